"""tdxlib.workbook.chartdata: the fast data transformer gives altair's records, or defers to altair."""

from __future__ import annotations

import json
import math
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import pytest
from altair.utils.core import sanitize_pandas_dataframe
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxlib.workbook import chartdata

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
texts = st.text(max_size=6)


@st.composite
def frames(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(0, 6))
    cols: dict[str, Any] = {}
    for i in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["int", "float", "bool", "object", "category", "string", "mixed"]))
        name = f"{kind}{i}"
        if kind == "int":
            cols[name] = np.array(
                draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n)), np.int64
            )
        elif kind == "float":
            cols[name] = np.array(draw(st.lists(floats, min_size=n, max_size=n)), np.float64)
        elif kind == "bool":
            cols[name] = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool)
        elif kind == "object":
            cols[name] = pd.Series(
                draw(st.lists(st.one_of(texts, st.none()), min_size=n, max_size=n)), dtype=object
            )
        elif kind == "category":
            cols[name] = pd.Categorical(draw(st.lists(st.one_of(texts, st.none()), min_size=n, max_size=n)))
        elif kind == "string":
            cols[name] = pd.array(
                draw(st.lists(st.one_of(texts, st.none()), min_size=n, max_size=n)), "string"
            )
        else:  # what figures put in object columns: numpy scalars, NaN, lists
            pick = st.one_of(
                st.integers(-9, 9).map(np.int64),
                floats.map(np.float64),
                st.just(float("nan")),
                st.lists(st.integers(0, 3), max_size=2),
                texts,
            )
            cols[name] = pd.Series(draw(st.lists(pick, min_size=n, max_size=n)), dtype=object)
    return pd.DataFrame(cols, index=pd.RangeIndex(n))


def _same(ours: Any, altairs: Any) -> bool:
    """Our value against altair's: the same type and value, except where altair (under pandas 3)
    leaves NaN or infinity in an object column (ours: None) or turns its ints into floats."""
    if isinstance(altairs, float) and not math.isfinite(altairs):
        return ours is None
    numbers = (int, float)
    if isinstance(ours, numbers) and isinstance(altairs, numbers) and not isinstance(ours, bool):
        return not isinstance(altairs, bool) and ours == altairs
    return type(ours) is type(altairs) and ours == altairs


@settings(max_examples=300, deadline=None)
@given(frames())
def test_records_are_altairs_records(df: pd.DataFrame) -> None:
    expected = sanitize_pandas_dataframe(df).to_dict(orient="records")
    got = chartdata.records(df)
    assert got is not None
    assert [list(r) for r in got] == [list(r) for r in expected]
    for ours, theirs in zip(got, expected, strict=True):
        assert all(_same(ours[k], theirs[k]) for k in ours), (ours, theirs)
    json.dumps(got, allow_nan=False)  # plain JSON: no NaN, no numpy scalars


def test_other_frames_go_through_altair() -> None:
    dated = pd.DataFrame({"t": pd.to_datetime(["2022-06-08", "2022-06-20"]), "n": [1, 2]})
    assert chartdata.records(dated) is None
    assert chartdata.transform(dated) == alt.utils.data.to_values(dated)
    nullable = pd.DataFrame({"n": pd.array([1, None], "Int64")})
    assert chartdata.records(nullable) is None
    assert chartdata.transform(nullable) == {"values": [{"n": 1}, {"n": None}]}
    assert chartdata.transform({"values": [{"a": 1}]}) == {"values": [{"a": 1}]}


def test_row_limit_is_altairs() -> None:
    big = pd.DataFrame({"x": np.arange(chartdata.MAX_ROWS + 1)})
    with pytest.raises(alt.MaxRowsError):
        chartdata.transform(big)
    assert len(chartdata.transform(big, max_rows=None)["values"]) == chartdata.MAX_ROWS + 1


def test_charts_come_out_as_with_altairs_transformer() -> None:
    df = pd.DataFrame({"cpu": ["CPU 0", "CPU 1"], "lost": [0.5, math.nan], "n": [3, 4]})
    chart = alt.Chart(df).mark_bar().encode(x="cpu:N", y="n:Q", color="lost:Q")
    with alt.data_transformers.enable("default"):
        expected = chart.to_dict()
    chartdata.enable()
    with alt.data_transformers.enable(chartdata.NAME):
        got = chart.to_dict()
    assert got == expected
