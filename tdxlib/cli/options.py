"""Option types every sub-command shares, so the same option means the same thing everywhere.

``--jobs`` is an integer >= 1 (``report`` without it uses one kernel per core), a timeout or a
duration a finite number of seconds > 0; a bad value is a usage error (exit 2) naming the option.
Light: argparse only.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["MAX_JOBS", "jobs", "non_negative", "positive"]

#: The most worker processes or kernels: more than any machine tdxlib runs on has cores.
MAX_JOBS = 1024


def jobs(text: str) -> int:
    """``--jobs N``: worker processes or kernels, an integer in 1..MAX_JOBS (omit it for the default)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; expected N >= 1") from None
    if not 1 <= value <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; expected N in 1..{MAX_JOBS}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; expected a finite number")
    return value


def positive(text: str) -> float:
    """A timeout, duration or rate: a finite number > 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; expected a finite number > 0")
    return value


def non_negative(text: str) -> float:
    """A time that may be zero (a fixed service time): a finite number >= 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; expected a finite number >= 0")
    return value
