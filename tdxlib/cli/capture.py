"""``tdxlib capture``: snapshot this machine's interrupts and vector allocator into data/captures/<name>/.

Imports only argparse at module level; :mod:`tdxlib.ingest.take` loads inside :func:`run`.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``capture`` sub-command to the tdxlib CLI."""
    p = subparsers.add_parser(
        "capture",
        help="snapshot /proc/interrupts, IRQ affinities and the debugfs VECTOR dump into a capture",
        description=(
            "Read /proc/interrupts, /proc/irq/*/{smp_affinity_list,effective_affinity_list,node}, "
            "/sys/kernel/debug/irq/domains/VECTOR (needs root, debugfs and CONFIG_GENERIC_IRQ_DEBUGFS), "
            "/proc/version, the CPU lists and the vector-relevant kernel config, and write them with a "
            "manifest.yaml to DIR/NAME. Works without root: what cannot be read is recorded with the reason."
        ),
    )
    p.add_argument("name", metavar="NAME", help="capture name (A-Z a-z 0-9 . _ -)")
    p.add_argument("--out", metavar="DIR", help="parent directory (default: data/captures)")
    p.add_argument("--root", metavar="PATH", default="/", help="read /proc and /sys under PATH (default: /)")
    p.add_argument("--force", action="store_true", help="replace an existing capture of that name")
    p.add_argument("--description", metavar="TEXT", help="what machine this is, for the manifest")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Take the capture and print what was (and was not) readable."""
    # reads /proc and /sys: only when this command runs
    from tdxlib.ingest.take import describe_capture, take_capture

    path = take_capture(args.name, args.out, root=args.root, force=args.force, description=args.description)
    print(describe_capture(path))
    return 0
