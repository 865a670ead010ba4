"""``tdxlib claims``: the claims ledger by era — each claim of the thread checked on guest kernel
profiles, with the verdict per kernel, the overall verdict and what it depends on, and the evidence.

Only argparse is imported at module level; the models are imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

FORMATS = ("table", "json", "md")


def register(subparsers: Any) -> None:
    """Add the ``claims`` sub-command to ``tdxlib``'s parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "claims",
        help="the claims ledger, per guest kernel profile (era), with evidence",
        description=(
            "Check every claim of the 2022 review thread on guest kernel profiles (data/kernels): the "
            "verdict on each kernel (holds, fails, depends, or moot where the kernel refuses what the claim "
            "is about), the overall verdict and what it depends on, and the evidence. Default kernels: "
            "the story's (5.19 + v8, 6.6, 6.12 LTS, newest mainline)."
        ),
    )
    p.add_argument(
        "--kernel",
        action="append",
        metavar="NAME",
        help="a kernel profile to check on (repeat for several); an unknown name lists the known ones",
    )
    p.add_argument("--all-kernels", action="store_true", help="every shipped profile, distributions too")
    p.add_argument("--only", action="append", metavar="ID", help="only this claim (repeat for several)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.set_defaults(func=main)


def _json(pairs: list[Any]) -> str:
    # reason: the ledger module loads pandas; only when the command runs
    from tdxlib.argument.claims.ledger import ledger_row

    out = []
    for claim, eras in pairs:
        row = ledger_row(claim, eras)
        row["eras"] = {e.kernel: e.to_dict() for e in eras.verdicts}
        out.append(row)
    return json.dumps(out, indent=2, sort_keys=False, default=str)


def _md(pairs: list[Any], kernels: list[str]) -> str:
    head = ["claim", "verdict", *kernels, "depends on"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for claim, eras in pairs:
        cells = [f"`{claim.id}`", f"**{eras.verdict}**", *eras.by_kernel().values(), eras.depends_on]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        notes.append(f"- `{claim.id}` ({claim.author}): {claim.claim}")
        notes += [f"  - *{e.kernel}*, {e.verdict}: {e.evidence}" for e in eras.verdicts]
    return "\n".join([*lines, "", "## Evidence", "", *notes]) + "\n"


def _table(pairs: list[Any], kernels: list[str]) -> str:
    width = max(len(c.id) for c, _ in pairs)
    cols = [max(len(k), 7) for k in kernels]
    head = f"{'claim':<{width}}  {'verdict':<8} " + " ".join(
        f"{k:<{w}}" for k, w in zip(kernels, cols, strict=True)
    )
    lines = [head.rstrip(), "-" * len(head.rstrip())]
    for claim, eras in pairs:
        per = " ".join(f"{v:<{w}}" for v, w in zip(eras.by_kernel().values(), cols, strict=True))
        lines.append(f"{claim.id:<{width}}  {eras.verdict:<8} {per}".rstrip())
        if eras.depends_on:
            lines.append(f"{'':<{width}}  -> {eras.depends_on}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Check the claims on the kernels and print them; TdxlibError goes to tdxlib.cli (exit 1)."""
    # reason: the claims load the simulator and pandas; only when the command runs
    from tdxlib.argument.claims.eras import era_kernels, shipped_kernels
    from tdxlib.argument.claims.ledger import by_era

    kernels = era_kernels(shipped_kernels() if args.all_kernels else args.kernel)
    pairs = by_era(args.only, kernels)
    if args.format == "json":
        print(_json(pairs))
    elif args.format == "md":
        print(_md(pairs, kernels), end="")
    else:
        print(_table(pairs, kernels))
    return 0
