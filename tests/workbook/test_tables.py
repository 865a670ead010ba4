"""Tables as the notebooks and reports show them: no meaningless index, text left, wide ones scroll."""

from __future__ import annotations

import re

import pandas as pd

from tdxlib.workbook.tables import meaningless_index, table_html


def test_pandas_row_numbers_are_left_out_but_a_real_index_stays() -> None:
    plain = pd.DataFrame({"claim": ["a", "b"], "value": [1, 2]})
    assert meaningless_index(plain) and "<th>0</th>" not in table_html(plain)
    named = plain.set_index("claim")
    assert not meaningless_index(named) and "<th>a</th>" in table_html(named)
    filtered = plain[plain["value"] > 1]  # row 1 of a larger frame: still a row number
    assert meaningless_index(filtered) and "<th>1</th>" not in table_html(filtered)
    by_number = pd.DataFrame({"x": [1]}, index=pd.Index([64], name="ncpus"))
    assert not meaningless_index(by_number) and "<th>64</th>" in table_html(by_number)


def test_text_columns_are_left_aligned_and_numbers_are_not() -> None:
    df = pd.DataFrame({"n": [1], "question": ["why?"], "x": [0.5], "answer": ["because"]})
    html = table_html(df)
    rule = re.search(r"<style>(.*)</style>", html)
    assert rule is not None
    cols = sorted(int(c) for c in re.findall(r"td:nth-child\((\d+)\)", rule.group(1)))
    assert cols == [2, 4] and "text-align: left" in rule.group(1)
    shifted = table_html(df.set_index("n"))  # the index takes the first cell of each row
    assert sorted(int(c) for c in re.findall(r"td:nth-child\((\d+)\)", shifted)) == [2, 4]


def test_a_table_sits_in_a_box_that_scrolls_sideways() -> None:
    wide = pd.DataFrame({f"column_{i}": ["some long text value"] for i in range(40)})
    html = table_html(wide)
    assert html.startswith('<div class="tdxlib-table" style="overflow-x: auto; max-width: 100%;">')
    assert html.count('id="tdxlib-table-') == 1
