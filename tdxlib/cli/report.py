"""``tdxlib report``: build the offline HTML reports of notebooks/reports.yaml (what ``make reports`` runs).

Imports only argparse at module level; the pipeline loads inside :func:`run`, and papermill/nbconvert
only when something has to execute, so a no-op rebuild stays well under a second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tdxlib.cli import options


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command to the tdxlib CLI."""
    p = subparsers.add_parser(
        "report",
        help="execute the notebooks and export offline HTML reports (cached, parallel)",
        description=(
            "Execute every notebook x parameter set of notebooks/reports.yaml with papermill, in "
            "parallel, and write self-contained HTML to reports/ with index.html, summary.json and "
            "summary.md. Runs whose notebook, parameters, tdxlib source and data are unchanged are "
            "not re-executed."
        ),
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only these notebooks or runs (name, run name or glob; repeat or comma-separate)",
    )
    p.add_argument(
        "--jobs",
        "-j",
        type=options.jobs,
        default=None,
        metavar="N",
        help="kernels in parallel (default: cores)",
    )
    p.add_argument(
        "--list", action="store_true", help="list the runs and whether they are cached; run nothing"
    )
    p.add_argument("--out", metavar="DIR", help="output directory (default: reports/ beside notebooks/)")
    p.add_argument("--force", action="store_true", help="re-execute every selected run, cached or not")
    p.add_argument(
        "--check",
        action="store_true",
        help="after building, compare summary.json with reports/summary.golden.json; fail on a flipped "
        "verdict or a drifted metric",
    )
    p.add_argument(
        "--update-golden", action="store_true", help="after building, rewrite reports/summary.golden.json"
    )
    p.add_argument(
        "--timeout", type=options.positive, metavar="S", help="per-cell timeout in seconds (default: config)"
    )
    p.add_argument("--config", metavar="PATH", help="reports config (default: notebooks/reports.yaml)")
    p.add_argument("--golden", metavar="PATH", help="golden summary (default: reports/summary.golden.json)")
    p.add_argument("--reduced", action="store_true", help="run the reduced parameter sets (quick, for tests)")
    p.add_argument(
        "--jupyter-kernel",
        metavar="NAME",
        help="the Jupyter kernel that runs the notebooks (default: config, else 'tdxlib'); the guest kernel "
        "profile is each notebook's `kernel` parameter",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def _only(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _list(args: argparse.Namespace) -> int:
    # papermill, nbconvert: only when this command runs
    from tdxlib.report.build import default_config_path, plan

    # the YAML reader and pydantic: only when this command runs
    from tdxlib.report.config import load_config

    cfg = load_config(Path(args.config) if args.config else default_config_path())
    out = Path(args.out) if args.out else cfg.root / "reports"
    selected = cfg.select(_only(args.only), args.reduced)
    universe = cfg.reduced_runs if args.reduced else cfg.runs
    states = plan(cfg, out, selected, universe, args.force, args.jupyter_kernel or cfg.jupyter_kernel)
    if not states:
        print(f"no runs listed in {cfg.path}")
        return 0
    width = max(len(s.run.name) for s in states)
    for s in states:
        params = ", ".join(f"{k}={v!r}" for k, v in sorted(s.run.overrides.items())) or "defaults"
        state = {"cached": "cached", "execute": "would run (" + ", ".join(s.reasons) + " changed)"}.get(
            s.action, s.action
        )
        print(f"{s.run.name:<{width}}  {params}  [{state}]")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``tdxlib report`` with parsed ``args``; returns the exit code."""
    if args.list:
        return _list(args)

    # papermill, nbconvert: only when this command runs
    from tdxlib.report.build import build

    result = build(
        config=args.config,
        out=args.out,
        only=_only(args.only),
        jobs=args.jobs,
        force=args.force,
        reduced=args.reduced,
        timeout=args.timeout,
        jupyter_kernel=args.jupyter_kernel,
        progress=not args.quiet,
    )
    status = 0
    for err in result.errors:
        print(f"tdxlib report: FAILED {err}", file=sys.stderr)
        status = 1
    if not args.quiet:
        failed = f", {len(result.errors)} failed" if result.errors else ""
        print(
            f"tdxlib report: {len(result.executed)} executed, {len(result.cached)} cached{failed} "
            f"in {result.seconds:.1f} s -> {result.out / 'index.html'}",
            file=sys.stderr,
        )
    golden = Path(args.golden) if args.golden else result.config.root / "reports" / "summary.golden.json"
    if args.update_golden:
        if result.errors:
            print("tdxlib report: not updating the golden summary: some runs failed", file=sys.stderr)
            return 1
        # only when checking or writing the golden summary
        from tdxlib.report.golden import write_golden

        changed = write_golden(golden, result.summary)
        print(
            f"tdxlib report: golden summary {'updated' if changed else 'unchanged'}: {golden}",
            file=sys.stderr,
        )
    if args.check:
        # only when checking or writing the golden summary
        from tdxlib.report.golden import compare, golden_from_summary, read_golden

        only = set(result.selected) if args.only else None
        diffs = compare(read_golden(golden), golden_from_summary(result.summary), only)
        if diffs:
            print(f"tdxlib report --check: {len(diffs)} difference(s) from {golden}:", file=sys.stderr)
            for d in diffs:
                print(f"  - {d}", file=sys.stderr)
            print("  (if intended: tdxlib report --update-golden, and commit it)", file=sys.stderr)
            return 1
        print(f"tdxlib report --check: matches {golden}", file=sys.stderr)
    return status
