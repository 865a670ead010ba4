"""The "holds in" numbers of a claim — the share of a sweep's cells where it holds, with its interval —
as the key metrics notebook 07 records, and read back from a run's metrics by the report's index.

Light on purpose (no pandas, no dask): :mod:`tdxlib.report.index` imports it on every build.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["HoldsIn", "holds_in_metrics", "holds_in_of"]

_PARTS = ("share", "low", "high", "cells")


def _name(part: str, claim_id: str) -> str:
    return f"holds_in[{claim_id}]" if part == "share" else f"holds_in_{part}[{claim_id}]"


class HoldsIn(NamedTuple):
    """A claim's share of cells (``share``, with the interval ``low``..``high``) over ``cells`` cells."""

    share: float
    low: float
    high: float
    cells: int

    def text(self) -> str:
        """``87% (81–92%) of 240 cells``."""
        return (
            f"{100 * self.share:.0f}% ({100 * self.low:.0f}–{100 * self.high:.0f}%) "
            f"of {self.cells} cell{'s' if self.cells != 1 else ''}"
        )


def holds_in_metrics(claim_id: str, holds: HoldsIn) -> dict[str, float | int]:
    """The recorded metrics of one claim's share: ``holds_in[id]``, ``holds_in_low[id]``, ...."""
    return {_name(part, claim_id): value for part, value in zip(_PARTS, holds, strict=True)}


def holds_in_of(metrics: Mapping[str, Any], claim_id: str) -> HoldsIn | None:
    """A claim's share read back from a run's recorded metrics (``name -> {"value": ...}`` as the
    summary keeps them, or ``name -> value``); None when the run recorded none for it."""
    values = []
    for part in _PARTS:
        entry = metrics.get(_name(part, claim_id))
        value = entry.get("value") if isinstance(entry, Mapping) else entry
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        values.append(value)
    return HoldsIn(float(values[0]), float(values[1]), float(values[2]), int(values[3]))
