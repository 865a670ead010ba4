"""Reports: the notebook-side API (record metrics and the claims ledger) and the ``tdxlib report`` build.

Notebooks import only the light part (``record``, ``record_metrics``, ``record_ledger``); ``build``
and ``check`` load the pipeline (papermill, nbconvert) on first use.
"""

from __future__ import annotations

from typing import Any

from tdxlib.report.records import (
    RECORD_MIME,
    collect_records,
    record,
    record_ledger,
    record_metrics,
    recorded,
)

__all__ = [
    "RECORD_MIME",
    "build",
    "collect_records",
    "record",
    "record_ledger",
    "record_metrics",
    "recorded",
]


def __getattr__(name: str) -> Any:
    """Lazy access to ``build`` (keeps ``import tdxlib.report`` cheap inside kernels)."""
    if name == "build":
        # papermill, nbconvert: not in a kernel that only records metrics
        from tdxlib.report.build import build

        return build
    raise AttributeError(f"module 'tdxlib.report' has no attribute {name!r}")
