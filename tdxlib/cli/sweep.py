"""``tdxlib sweep SPEC --out DIR``: run a sweep spec's cells on dask.distributed into a Parquet dataset.

Only argparse at module level; dask, pyarrow and the simulator load when the command runs. Resumable:
the same command again runs only the cells not yet in DIR (Ctrl-C exits 130 and says how far it got).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tdxlib.cli.options import jobs


def register(subparsers: Any) -> None:
    """Add the ``sweep`` sub-command to the tdxlib CLI."""
    p = subparsers.add_parser(
        "sweep",
        help="run a sweep across the design space on Dask; results as a Parquet dataset (resumable)",
        description=(
            "Run every cell of a sweep spec (data/sweeps/NAME.yaml or a .yaml path) on dask.distributed: "
            "a LocalCluster of one worker process per core, or an existing cluster (--scheduler). "
            "Results go to DIR as a partitioned Parquet dataset, written as they arrive; cells already "
            "in DIR for the same inputs and tdxlib source are not run again."
        ),
    )
    p.add_argument(
        "spec", nargs="?", metavar="SPEC", help="sweep spec: a name in data/sweeps/ or a .yaml path"
    )
    p.add_argument("--out", metavar="DIR", help="result folder (created; resumed when it holds cells)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://HOST:8786 (see README)"
    )
    where.add_argument(
        "--workers",
        type=jobs,
        metavar="N",
        help="worker processes of the local cluster (default: one per core)",
    )
    p.add_argument("--list", action="store_true", help="list the shipped sweep specs and their sizes")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=main, parser=p)


def _list() -> int:
    # the spec model loads the simulator: only when this command runs
    from tdxlib.sweeps.paths import spec_names
    from tdxlib.sweeps.spec import load_spec

    for name in spec_names():
        spec = load_spec(name)
        axes = " × ".join(f"{a} {len(spec.values(a))}" for a in spec.axes)
        print(f"{name:<10} {spec.cells:>9,} cells  ({axes} × {spec.seeds} seeds)")
    return 0


def _shares_table(out: Any) -> str:
    # pandas and pyarrow: only when this command runs
    from tdxlib.sweeps.regions import claim_shares, holds_in
    from tdxlib.sweeps.store import read_result

    shares = claim_shares(read_result(out))
    verdicts = dict(zip(shares["claim"], shares["verdict"], strict=True))
    return "\n".join(
        f"  {cid:<30} holds in {h.text():<32} {verdicts[cid]}" for cid, h in holds_in(shares).items()
    )


def main(args: argparse.Namespace) -> int:
    """Run the sweep, print what was done and each claim's share; Ctrl-C exits 130."""
    if args.list:
        return _list()
    if not args.spec or not args.out:
        args.parser.error("SPEC and --out DIR are required (or --list)")
    # dask.distributed, pyarrow and the simulator: only when this command runs
    from tdxlib.sweeps.engine import SweepInterrupted, run_sweep

    try:
        done = run_sweep(
            args.spec, args.out, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet
        )
    except SweepInterrupted as stop:
        print(
            f"tdxlib sweep: interrupted: {stop.written} of {stop.cells} cells are in {stop.out}; "
            "run the same command again to go on",
            file=sys.stderr,
        )
        return 130
    where = f"{done.workers} workers" if done.ran else "no worker needed"
    print(
        f"{done.spec.name}: {done.ran} cells run, {done.skipped} already in {done.out}"
        + (f" ({done.pruned} stale files dropped)" if done.pruned else "")
        + (f", {done.errors} refused by the model (see the error column)" if done.errors else "")
        + f"; {where}, {done.seconds:.1f} s"
    )
    print(_shares_table(done.out))
    return 0
