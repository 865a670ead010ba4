"""The ``tdxlib`` command line: one module per sub-command under :mod:`tdxlib.cli`.

Each ``tdxlib.cli.<name>`` module is light (argparse only) and exposes ``register(subparsers)``;
the heavy imports (pandas, papermill, altair) happen only inside the chosen command. A sub-command
module that fails to import is an error of the whole command line, never a silently missing command.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tdxlib import __version__
from tdxlib.errors import TdxlibError

#: sub-command name -> module providing ``register(subparsers)``; the parser's ``func`` runs it.
COMMANDS: dict[str, str] = {
    "report": "tdxlib.cli.report",
    "sim": "tdxlib.cli.sim",
    "capture": "tdxlib.cli.capture",
    "proposals": "tdxlib.cli.proposals",
    "claims": "tdxlib.cli.claims",
    "sweep": "tdxlib.cli.sweep",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="tdxlib",
        description="Evidence for the TDX event-notify debate: models, reports, proposals.",
    )
    parser.add_argument("--version", action="version", version=f"tdxlib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tdxlib`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except TdxlibError as exc:
        print(f"tdxlib {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tdxlib {args.command}: interrupted", file=sys.stderr)
        return 130
