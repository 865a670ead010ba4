"""The interactive panel of notebook 06 (its home is :mod:`tdxlib.workbook.nb06_proposals`; these
names stay importable from here)."""

from __future__ import annotations

from tdxlib.workbook.nb06_proposals import Explorer, cached_evaluation, explorer, proposal_view

__all__ = ["Explorer", "cached_evaluation", "explorer", "proposal_view"]
