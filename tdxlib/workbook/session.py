"""The first call of every notebook: :func:`start` sets up charts and tables for a live session or a
report run."""

from __future__ import annotations

import gc

import pandas as pd

from tdxlib import cache as buildcache
from tdxlib.workbook import charts
from tdxlib.workbook.tables import table_html

__all__ = ["start"]


def start(interactive: bool) -> None:
    """First call of every notebook: static SVG charts when ``interactive`` is False (report runs),
    and tables that show the claims' evidence in full (:func:`tdxlib.workbook.tables.table_html`).

    A kernel of a report build runs this one notebook and exits, so what it has imported by now
    (pandas, altair's schema, tdxlib's data: some 100,000 objects) lives as long as the kernel:
    ``gc.freeze`` leaves it out of every later full collection, each of which would walk all of it
    again (75-100 ms a time, 0.1-0.3 s a run). Any other session is left as it is.
    """
    charts.set_interactive(None if interactive else False)
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.precision", 4)
    _tables_as_html()
    if not interactive and buildcache.active():
        gc.freeze()


def _tables_as_html() -> None:
    """Make :func:`table_html` the HTML form of every DataFrame in this IPython session (if any)."""
    # reason: IPython is loaded in every kernel, and plain Python has no display to format
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, table_html)
