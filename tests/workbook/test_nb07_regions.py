"""tdxlib.workbook.nb07_regions: notebook 07 reads a sweep (run here into its folder, or given), shows
each claim's share, a claim's regions, where one flips and latency intervals, records the "holds in"
numbers, and its panel redraws the heatmaps for other axes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _panels import check_panel_starts_from_the_view, title

from tdxlib.cache import BUILD_CACHE_ENV, code_key
from tdxlib.errors import ValidationError
from tdxlib.sweeps.cells import batches, enumerate_cells
from tdxlib.sweeps.holds import holds_in_of
from tdxlib.sweeps.spec import load_spec
from tdxlib.sweeps.store import Store
from tdxlib.sweeps.work import run_batch
from tdxlib.workbook import nb07_regions as nb
from tdxlib.workbook.params import RegionsParams


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quick sweep, run in this process (no cluster) into a result folder."""
    out = tmp_path_factory.mktemp("quick")
    spec, code = load_spec("quick"), code_key()
    cells = list(enumerate_cells(spec, code))
    with Store(out, spec, code, {c.key for c in cells}) as store:
        for b in batches(spec, cells):
            store.write(run_batch(spec, b))
    return out


@pytest.fixture
def params(folder: Path) -> RegionsParams:
    return RegionsParams(result=str(folder))


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv(BUILD_CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    yield tmp_path


def test_a_sweep_run_here_goes_to_the_build_folder_or_the_users_cache(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert nb.sweep_folder("quick") == cache_home / "tdxlib" / "sweeps" / "quick"
    monkeypatch.setenv(BUILD_CACHE_ENV, str(cache_home / "build"))
    assert nb.sweep_folder("quick") == cache_home / "build" / "sweeps" / "quick"


def test_the_notebook_runs_its_spec_once_and_then_reads_it(cache_home: Path) -> None:
    p = RegionsParams(spec="quick", workers=1)
    first = nb.sweep(p)
    assert first.complete and first.out == nb.sweep_folder("quick")
    again = nb.sweep(p)  # every cell is there: nothing runs, the folder is read
    assert again.cells.equals(first.cells)


def test_about_and_the_claims_table(params: RegionsParams) -> None:
    result = nb.sweep(params)
    facts = dict(zip(nb.about(result)["what"], nb.about(result)["value"], strict=True))
    assert facts["cells"] == "48 of 48" and facts["axis device_irqs_per_cpu"] == "0, 190"
    table = nb.claims_table(result).set_index("claim")
    assert table.loc["polling-sufficient", "holds in"].endswith("of 16 cells")
    assert table.loc["config-gated" if "config-gated" in table.index else "timeout-required", "holds in"] == (
        "no cell speaks to it"
    )
    assert title(nb.shares_view(result)).startswith("How far each claim holds")
    nb.shares_view(result).to_dict()


def test_the_regions_view_pins_and_pools(params: RegionsParams) -> None:
    view = nb.regions_view(params)
    grid = view.result
    assert list(grid.columns[:3]) == ["cpus", "device_irqs_per_cpu", "vmm"] and len(grid) == 8
    assert set(grid.loc[grid["cells"] > 0, "vmm"]) == {"qemu-10.1"}  # the caller rule: an injecting VMM
    assert "pooled" not in view.caption
    pooled = nb.regions_view(params.replace(fixed=(), claim="notify-works", facet=""))
    assert "pooled over strategy" in pooled.caption
    with pytest.raises(ValidationError, match="axis"):
        nb.regions_view(params.replace(x="hz"))
    with pytest.raises(ValidationError):
        nb.regions_view(params.replace(fixed=("strategy",)))


def test_the_boundary_and_the_metrics_the_index_reads(params: RegionsParams) -> None:
    result = nb.sweep(params)
    flips, chart = nb.boundary(params, result)
    assert list(flips["cpus"]) == [2, 8] and flips["flips"].all()
    assert list(flips["first"]) == [190, 190]
    chart.to_dict()  # validates against the Vega-Lite schema
    m = nb.regions_metrics(result, flips, params)
    assert m["sweep_cells"] == 48 and m["sweep_refused"] == 0
    assert m["flip_first_device_irqs_per_cpu[system-vector-wasteful,cpus=8]"] == 190
    h = holds_in_of(m, "polling-sufficient")
    assert h is not None and h.cells == 16 and h.share == 1.0
    assert holds_in_of(m, "timeout-required") is None  # no cell speaks to it: nothing recorded


def test_latency_per_design_and_vmm(params: RegionsParams) -> None:
    lat, chart = nb.latency(nb.sweep(params))
    assert list(lat.columns[:2]) == ["strategy", "vmm"] and len(lat) == 6
    never = lat[lat["vmm"] == "never-injects"].set_index("strategy")
    assert never.loc["polling", "cells"] == 8 and never.loc["system-vector", "cells"] == 0
    assert "bootstrap" in title(chart)
    chart.to_dict()


def test_the_panel_starts_from_the_view_and_redraws_other_axes(params: RegionsParams) -> None:
    panel = nb.regions_panel(params)
    check_panel_starts_from_the_view(nb.regions_view(params), panel)
    assert set(panel.controls) == {"claim", "x", "y", "facet", "fixed"}
    panel.controls["x"].value = "strategy"
    panel.controls["fixed"].value = ()
    assert panel.error == "" and "strategy" in panel.result.columns
    panel.controls["claim"].value = "notify-works"
    assert panel.error == "" and title(panel.chart).startswith("notify-works")
