"""altair's default data transformer, with a fast path for the plain frames our figures draw.

altair turns a DataFrame into inline ``values`` by copying it and converting it column by column
in pandas (``sanitize_pandas_dataframe``): about 15 ms a frame, half the cost of a chart's
``to_dict`` and a good part of a widget redraw. Frames of plain numbers, booleans and strings are
converted here column-wise in Python, to the records altair produces (Python scalars, None for NaN
and infinities), with one difference: a missing value or a non-finite number in an object column
is always None, where altair (under pandas 3) leaves NaN or infinity, which are not JSON. Any
other frame (datetimes, nullable columns, categories of non-strings ...) goes through altair's own
transformer.
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
from altair.utils.data import limit_rows, to_values
from altair.vegalite.data import default_data_transformer

#: Name under which :func:`transform` is registered with ``alt.data_transformers``.
NAME = "tdxlib"
#: altair's own row limit (``alt.data_transformers``' default ``max_rows``).
MAX_ROWS = 5000


def _plain(v: Any) -> Any:
    """An object-column value as altair's records hold it (numpy scalars and arrays made Python),
    with None for a missing or non-finite number (altair keeps those, and they are not JSON)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and not math.isfinite(v)):
        return None
    return v


def _column(s: pd.Series) -> list[Any] | None:
    """The column's values as in altair's records, or None when the fast path does not cover it."""
    kind = s.dtype.kind
    if kind in "iub" and isinstance(s.dtype, np.dtype):
        return list(s.tolist())
    if kind == "f" and isinstance(s.dtype, np.dtype):
        return [x if math.isfinite(x) else None for x in s.tolist()]
    if kind == "O":
        return [_plain(v) for v in s.tolist()]
    if isinstance(s.dtype, pd.CategoricalDtype) and s.cat.categories.dtype.kind == "O":
        return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in s.tolist()]
    if isinstance(s.dtype, pd.StringDtype):
        return [None if v is pd.NA or v is None else v for v in s.astype(object).tolist()]
    return None


def records(df: pd.DataFrame) -> list[dict[str, Any]] | None:
    """``altair.utils.core.sanitize_pandas_dataframe(df).to_dict("records")``, or None when ``df``
    needs altair's own conversion."""
    if isinstance(df.index, pd.MultiIndex) or isinstance(df.columns, pd.MultiIndex):
        return None
    names = list(df.columns)
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        return None
    columns = []
    for name in names:
        values = _column(df[name])
        if values is None:
            return None
        columns.append(values)
    if not names:
        return [{} for _ in range(len(df))]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def transform(data: Any, max_rows: int | None = MAX_ROWS) -> Any:
    """altair data transformer: the default one (row limit, inline values), faster on plain frames."""
    if isinstance(data, pd.DataFrame):
        values = records(data)
        if values is not None:
            if max_rows is not None and len(data) > max_rows:
                limit_rows(data, max_rows=max_rows)  # raises altair's MaxRowsError
            return {"values": values}
    if max_rows is None:  # alt.data_transformers.disable_max_rows()
        return to_values(data) if data is not None else to_values
    return default_data_transformer(data, max_rows=max_rows)


def enable() -> None:
    """Register :func:`transform` with altair and make it the active data transformer."""
    if NAME not in alt.data_transformers.names():
        alt.data_transformers.register(NAME, transform)
    alt.data_transformers.enable(NAME)
