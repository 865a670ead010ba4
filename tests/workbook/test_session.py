"""tdxlib.workbook.session: every notebook's first call."""

from __future__ import annotations

import gc

import pytest

from tdxlib.cache import BUILD_CACHE_ENV
from tdxlib.workbook import charts
from tdxlib.workbook.session import start


def test_start_switches_charts_to_static() -> None:
    try:
        start(False)
        assert not charts.is_interactive()
    finally:
        charts.set_interactive(None)


@pytest.mark.parametrize(
    ("interactive", "in_build", "frozen"), [(False, True, True), (False, False, False), (True, True, False)]
)
def test_start_freezes_the_heap_only_in_a_report_kernel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, interactive: bool, in_build: bool, frozen: bool
) -> None:
    """Report-build kernels (headless, build cache set) freeze what they imported; other sessions do not."""
    if in_build:
        monkeypatch.setenv(BUILD_CACHE_ENV, str(tmp_path))
    else:
        monkeypatch.delenv(BUILD_CACHE_ENV, raising=False)
    gc.unfreeze()
    try:
        start(interactive)
        assert (gc.get_freeze_count() > 0) is frozen
    finally:
        gc.unfreeze()
        charts.set_interactive(None)
