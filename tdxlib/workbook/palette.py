"""The workbook's colours, in one light module (no altair): charts, figures and the report index use them.

Categorical colours follow the colour-blind-safe Okabe–Ito order. A claim verdict has one colour as a
chart fill and a darker one as text on a white page (contrast of at least 4.5:1).
"""

from __future__ import annotations

from tdxlib.argument.verdicts import ERA_VERDICTS

__all__ = ["PALETTE", "VERDICT_COLOURS", "VERDICT_TEXT_COLOURS"]

#: Categorical colours (colour-blind safe, Okabe–Ito order): strategies, VMM profiles.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

#: Fill colour of each claim verdict in charts (holds, fails, depends, and moot on a kernel).
VERDICT_COLOURS: dict[str, str] = dict(
    zip(ERA_VERDICTS, ("#009E73", "#D55E00", "#E69F00", "#6E7781"), strict=True)
)

#: Text colour of each claim verdict on a white page.
VERDICT_TEXT_COLOURS: dict[str, str] = dict(
    zip(ERA_VERDICTS, ("#1a7f37", "#cf222e", "#9a6700", "#59636e"), strict=True)
)
