"""``tdxlib proposals``: check, evaluate and start spec-proposal files (check, eval, new, schema).

Only argparse is imported at module level; pydantic, pandas and the simulator load inside the commands.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tdxlib.cli import options
from tdxlib.cli.schema import print_or_write

#: Output formats of ``eval``.
FORMATS = ("table", "json", "md")


def register(subparsers: Any) -> None:
    """Add ``proposals`` and its sub-commands to ``tdxlib``'s parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "proposals",
        help="check, evaluate and start GHCI spec proposals (data/proposals/)",
        description="GHCI spec proposals as YAML: validate them, evaluate them across a scenario suite, "
        "or write a commented template. FILE may also be a built-in id (e.g. caller-vcpu).",
    )
    sub = p.add_subparsers(dest="proposals_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda _args: _usage(p))

    c = sub.add_parser("check", help="validate proposal files; errors name file, line and field")
    c.add_argument("files", nargs="+", metavar="FILE", help="proposal YAML files (or built-in ids)")
    c.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    c.set_defaults(func=check_main)

    e = sub.add_parser("eval", help="evaluate proposals across a scenario suite and print the verdicts")
    e.add_argument("files", nargs="+", metavar="FILE", help="proposal YAML files (or built-in ids)")
    e.add_argument(
        "--suite", default="default", metavar="NAME", help="scenario suite (data/proposals/meta/suites.yaml)"
    )
    e.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    e.add_argument(
        "--compare", action="store_true", help="add every built-in proposal and print one verdict table"
    )
    e.add_argument("--seed", type=int, action="append", metavar="N", help="seed(s) instead of the suite's")
    e.add_argument(
        "--jobs", type=options.jobs, default=1, metavar="N", help="worker processes (default 1: serial)"
    )
    e.set_defaults(func=eval_main)

    n = sub.add_parser("new", help="write a commented proposal template (it validates as written)")
    n.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    n.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    n.set_defaults(func=new_main)

    s = sub.add_parser("schema", help="print (or write, or check) the JSON Schema of the proposal format")
    s.add_argument("--out", metavar="FILE", help="write here (e.g. data/proposals/schema.json)")
    s.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    s.add_argument("--check", metavar="FILE", help="exit 1 if FILE differs from the generated schema")
    s.set_defaults(func=schema_main)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# --------------------------------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------------------------------


def _check_one(name: str) -> tuple[Any, list[Any]]:
    # pydantic, pandas, simpy: only when this command runs
    from tdxlib.argument.proposals import builtin_ids, check_proposal

    # pydantic and the data files: only when this command runs
    from tdxlib.argument.proposals.catalog import builtin_paths

    if not Path(name).exists() and name in builtin_ids():
        return check_proposal(builtin_paths()[name])
    return check_proposal(name)


def check_main(args: argparse.Namespace) -> int:
    """Validate every FILE; print each error as ``file:line: field: message``; exit 1 if any is invalid."""
    bad = 0
    for name in args.files:
        proposal, errors = _check_one(name)
        if errors:
            bad += 1
            for err in errors:
                print(str(err), file=sys.stderr)
        elif not args.quiet:
            print(f"{name}: ok ({proposal.id}: {proposal.title})")
    if bad and not args.quiet:
        print(f"{bad} of {len(args.files)} proposal file(s) invalid", file=sys.stderr)
    return 1 if bad else 0


# --------------------------------------------------------------------------------------------------
# eval
# --------------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.0f}"
    return str(value)


def format_rows(columns: list[str], rows: list[list[Any]], fmt: str) -> str:
    """A plain-text (``table``) or Markdown (``md``) table of ``rows``."""
    text = [[_cell(v) for v in row] for row in rows]
    if fmt == "md":

        def esc(s: str) -> str:
            return s.replace("|", "\\|")

        out = [
            "| " + " | ".join(esc(c) for c in columns) + " |",
            "|" + "|".join("---" for _ in columns) + "|",
        ]
        out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in text]
        return "\n".join(out)
    widths = [max([len(c), *(len(r[i]) for r in text)]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in text]
    return "\n".join(out)


def _json_ready(records: list[dict[Any, Any]]) -> list[dict[str, Any]]:
    out = []
    for rec in records:
        clean: dict[str, Any] = {}
        for k, v in rec.items():
            if hasattr(v, "item"):
                v = v.item()
            clean[str(k)] = None if isinstance(v, float) and math.isnan(v) else v
        out.append(clean)
    return out


def eval_main(args: argparse.Namespace) -> int:
    """Evaluate FILE(s); one proposal: a row per run; several (or --compare): the verdict table."""
    # pydantic, pandas, simpy: only when this command runs
    from tdxlib.argument.proposals import (
        builtin_ids,
        evaluate_all,
        evaluation_table,
        key_numbers,
        resolve,
        verdict_table,
    )

    chosen = [resolve(f) for f in args.files]
    if args.compare:
        have = {p.id for p in chosen}
        chosen += [resolve(i) for i in builtin_ids() if i not in have]
    with ExitStack() as stack:
        executor = stack.enter_context(ProcessPoolExecutor(args.jobs)) if args.jobs > 1 else None
        ev = evaluate_all(chosen, args.suite, executor=executor, seeds=args.seed)
    single = len(chosen) == 1
    if single:
        table = evaluation_table(ev)
        summary: dict[str, Any] = {"proposal": chosen[0].id, "suite": args.suite, **key_numbers(ev)}
    else:
        table = verdict_table(ev)
        summary = {"proposals": [p.id for p in chosen], "suite": args.suite}
    if args.format == "json":
        doc = {**summary, "rows": _json_ready(table.to_dict("records"))}
        if single:
            doc["runs_full"] = _json_ready(ev.to_dict("records"))
        print(json.dumps(doc, indent=2, default=str))
        return 0
    columns = [str(c) for c in table.columns]
    body = format_rows(columns, table.to_numpy().tolist(), args.format)
    if single:
        p = chosen[0]
        head = (
            f"{p.id}: {p.title}\nsuite {args.suite}; own VMM: {summary['verdict_own_vmm']}; "
            f"real VMMs: {summary['verdict_real_vmms']}; new spec elements: {summary['new_elements']}"
        )
    else:
        head = f"verdicts across the {args.suite} suite (worst over seeds)"
    print(f"**{head}**\n\n{body}" if args.format == "md" else f"{head}\n\n{body}")
    return 0


# --------------------------------------------------------------------------------------------------
# new, schema
# --------------------------------------------------------------------------------------------------


def new_main(args: argparse.Namespace) -> int:
    """Write the template to --out (never over an existing file without --force) or to stdout."""
    # pydantic, pandas, simpy: only when this command runs
    from tdxlib.argument.proposals import TEMPLATE

    # the writer: only when a file is written
    from tdxlib.files import write_requested

    if not args.out:
        sys.stdout.write(TEMPLATE)
        return 0
    out = Path(args.out)
    text = TEMPLATE
    stem = out.stem
    if re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", stem):
        text = text.replace("\nid: my-proposal\n", f"\nid: {stem}\n", 1)
    write_requested(out, text, force=args.force, what="proposal file")
    print(f"wrote {out}; check it with: tdxlib proposals check {out}")
    return 0


def schema_main(args: argparse.Namespace) -> int:
    """Print, write or check the JSON Schema generated from tdxlib.argument.proposals.Proposal."""
    # pydantic, pandas, simpy: only when this command runs
    from tdxlib.argument.proposals import schema_json

    # the one reader: only when a file is read
    from tdxlib.data import read_text

    text = schema_json()
    if args.check:
        current = read_text(Path(args.check), what="schema file") if Path(args.check).is_file() else ""
        if current != text:
            print(
                f"{args.check} is out of date: run tdxlib proposals schema --out {args.check} --force",
                file=sys.stderr,
            )
            return 1
        print(f"{args.check}: up to date")
        return 0
    return print_or_write(text, args.out, force=args.force)
