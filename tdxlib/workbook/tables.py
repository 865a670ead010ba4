"""How the notebooks show a table (live and in the HTML reports): no pandas row numbers where the index
means nothing, text columns left-aligned (numbers stay right-aligned), and a wide table scrolling
inside its own box instead of overflowing the page. :func:`tdxlib.workbook.session.start` makes
:func:`table_html` IPython's HTML form of every DataFrame.
"""

from __future__ import annotations

import itertools

import pandas as pd

__all__ = ["meaningless_index", "table_html"]

_IDS = itertools.count()


def meaningless_index(df: pd.DataFrame) -> bool:
    """Whether the index is pandas' row numbers — unnamed integers, also those a filter left (24, 25,
    26 of a larger frame): nothing a reader needs. A named or non-integer index is data."""
    idx = df.index
    if isinstance(idx, pd.MultiIndex) or idx.name is not None:
        return False
    return isinstance(idx, pd.RangeIndex) or idx.dtype.kind in "iu"


def _text_columns(df: pd.DataFrame) -> list[int]:
    """1-based positions (as CSS ``nth-child`` counts them) of the columns holding text."""
    return [
        i + 1
        for i, (_, s) in enumerate(df.items())
        if s.dtype.kind == "O" or isinstance(s.dtype, pd.StringDtype | pd.CategoricalDtype)
    ]


def table_html(df: pd.DataFrame) -> str:
    """``df`` as HTML: pandas' own table (its display options apply), without a meaningless index,
    text columns left-aligned, in a box that scrolls sideways when the table is wider than the page."""
    show_index = not meaningless_index(df)
    table_id = f"tdxlib-table-{next(_IDS)}"
    html = df.to_html(
        index=show_index,
        table_id=table_id,
        max_rows=pd.get_option("display.max_rows"),
        max_cols=pd.get_option("display.max_columns"),
        border=0,
        classes="dataframe",
    )
    offset = df.index.nlevels if show_index else 0
    rules = [
        f"#{table_id} td:nth-child({i + offset}), #{table_id} thead th:nth-child({i + offset})"
        for i in _text_columns(df)
    ]
    style = f"<style>{', '.join(rules)} {{text-align: left;}}</style>" if rules else ""
    return f'<div class="tdxlib-table" style="overflow-x: auto; max-width: 100%;">{style}{html}</div>'
