"""The ``tdxlib`` command line: one module per sub-command under :mod:`tdxlib.cli`.

Each ``tdxlib.cli.<name>`` module is light (argparse only) and exposes ``register(subparsers)``;
the heavy imports (pandas, papermill, altair) happen only inside the chosen command. A sub-command
module that fails to import is an error of the whole command line, never a silently missing command.

One way to fail: a usage error is argparse's (exit 2); a :class:`~tdxlib.errors.TdxlibError` or an
``OSError`` is one line on stderr naming the path and the cause (exit 1); anything else is a bug,
reported as one line too. ``tdxlib --debug COMMAND`` shows the traceback instead.
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
    "schema": "tdxlib.cli.schema",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="tdxlib",
        description="Evidence for the TDX event-notify debate: models, reports, proposals.",
    )
    parser.add_argument("--version", action="version", version=f"tdxlib {__version__}")
    parser.add_argument("--debug", action="store_true", help="on an error, show the Python traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(module).register(sub)
    return parser


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def describe(exc: BaseException) -> str:
    """One line for an error: a tdxlib error as it reads, an OSError as ``path: cause`` (a newline in a
    path or a value shows as ``\\n``). An error that lists several problems (a report's
    ParameterError) keeps one line per problem."""
    if isinstance(exc, OSError):
        cause = exc.strerror or str(exc) or type(exc).__name__
        paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
        return _one_line(f"{paths}: {cause}" if paths else cause)
    text = str(exc) or type(exc).__name__
    if getattr(exc, "problems", None):
        return text
    return _one_line(text if isinstance(exc, TdxlibError) else f"{type(exc).__name__}: {text}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tdxlib`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"tdxlib {args.command}: interrupted", file=sys.stderr)
        return 130
    except (TdxlibError, OSError) as exc:
        if args.debug:
            raise
        print(f"tdxlib {args.command}: error: {describe(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"tdxlib {args.command}: internal error: {describe(exc)} "
            "(a bug in tdxlib: please report it with the output of tdxlib --debug)",
            file=sys.stderr,
        )
        return 1
