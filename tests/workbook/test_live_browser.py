"""The live workbook in a real browser (headless Debian chromium, network off): one notebook in JupyterLab
and one page in Voilà — run, move a control, see the chart redraw (updated, not re-embedded); a saved
notebook stays small; reopened with its kernel running, re-run, and after a kernel restart, every chart
draws. Skipped without chromium or Playwright (``.ci/run`` installs chromium)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from paths import ROOT

from tdxlib.workbook import livecheck
from tdxlib.workbook.launch import serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(livecheck.chromium_path() is None, reason="needs Debian chromium"),
]
pytest.importorskip("playwright")

#: The cheapest notebook with a panel (its run takes a few seconds).
NOTEBOOK = "04_hotplug.ipynb"
#: A notebook saved after Run All is small: outputs hold widget ids and tables, not the vega bundle.
SAVED_MAX_BYTES = 150_000
USER_SETTINGS = {"@jupyterlab/docmanager-extension:plugin": {"autosave": False}}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, tmp_path / NOTEBOOK)
    return tmp_path


@pytest.fixture
def br() -> Iterator[livecheck.Browser]:
    with livecheck.browser() as b:
        yield b
    assert b.offhost == [], f"requested off this machine: {b.offhost[:5]}"


#: A control of the panel whose new value changes the chart's data only (its frame stays).
CONTROL = "vCPUs"


def _redraws(page: Any, k: int = 1) -> dict[str, Any]:
    """Move the panel's vCPUs slider (``k``-th move): the chart is drawn again, by an update."""
    labels = [c["label"] for c in livecheck.panels(page)[0]["controls"]]
    moved = livecheck.move(page, 0, labels.index(CONTROL), k)
    assert moved["ms"] is not None, f"no redraw after {moved}"
    how = page.evaluate("() => document.querySelector('.tdxlib-panel .tdxlib-livechart').dataset.how")
    assert how == "update"
    return moved


def _all_drawn(page: Any, count: int) -> None:
    assert livecheck.wait_charts(page, count) == count
    assert page.evaluate("() => document.querySelectorAll('.tdxlib-livechart-error').length") == 0


def test_jupyterlab_redraws_saves_small_and_survives_reopen_and_restart(
    root: Path, br: livecheck.Browser
) -> None:
    with serve("lab", root, user_settings=USER_SETTINGS) as server:
        page = br.new_page()
        livecheck.lab_open(page, server, NOTEBOOK)  # on the tdxlib kernel, no kernel dialog
        assert livecheck.lab_run_all(page) == []
        charts = livecheck.wait_charts(page)
        assert charts >= 2
        _redraws(page)

        livecheck.lab_command(page, "docmanager:save")
        saved = server.api(f"api/contents/{NOTEBOOK}?content=1")
        size = len(json.dumps(saved["content"]))
        assert size < SAVED_MAX_BYTES, f"saved notebook is {size} bytes"
        assert "widgets" not in saved["content"]["metadata"] and "vegaEmbed" not in json.dumps(saved)

        page.close()  # the tab closed, the kernel runs on; reopened, the charts come back from it
        page = br.new_page()
        livecheck.lab_open(page, server, NOTEBOOK)
        _all_drawn(page, charts)
        assert livecheck.lab_run_all(page) == []  # every cell re-run
        _all_drawn(page, charts)
        _redraws(page)

        page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
        assert livecheck.lab_run_all(page) == []
        _all_drawn(page, charts)
        _redraws(page)
    assert br.errors == []


def test_voila_page_draws_every_chart_and_redraws(root: Path, br: livecheck.Browser) -> None:
    with serve("present", root) as server:
        page = br.new_page()
        charts = livecheck.voila_open(page, server, NOTEBOOK)
        assert charts >= 2
        text = page.evaluate("() => document.body.innerText")
        assert "record_ledger(" not in text and "import " not in text  # code hidden
        _redraws(page)
    assert br.errors == []
