"""``tdxlib report`` end to end with real kernels on tiny fixture notebooks, and a headless browser check."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from htmlrefs import Resources
from paths import FIXTURES

from tdxlib import cli
from tdxlib.report import build as build_mod
from tdxlib.report import execute as execute_mod
from tdxlib.report.browser import CHROMIUM_FLAGS, check_page, find_chromium
from tdxlib.report.build import BuildResult, build
from tdxlib.report.records import RECORD_MIME
from tdxlib.workbook.svg import CHART_MIME

pytestmark = pytest.mark.notebooks

YAML = """\
timeout: 120
notebooks:
  fx_report:
    small: {cpus: 8}
    big: {cpus: 1024, label: server}
  fx_small:
"""
BAR_RGB = (0xD5, 0x5E, 0x00)  # the fixture's bar colour


def expected_load(cpus: int, scale: float = 1.5) -> float:
    return sum(scale * (i % 5 + 1) for i in range(min(cpus, 16)))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, BuildResult]:
    """One real build of the fixture project (3 runs, 2 kernels in parallel)."""
    root = tmp_path_factory.mktemp("project")
    (root / "notebooks").mkdir()
    for nb in FIXTURES.glob("*.ipynb"):
        shutil.copy(nb, root / "notebooks" / nb.name)
    cfg = root / "notebooks" / "reports.yaml"
    cfg.write_text(YAML, encoding="utf-8")
    out = root / "reports"
    result = build(config=cfg, out=out, jobs=2, progress=False)
    return cfg, out, result


def test_build_executes_every_run(built: tuple[Path, Path, BuildResult]) -> None:
    _, out, result = built
    assert result.ok, [str(e) for e in result.errors]
    assert sorted(result.executed) == ["fx_report--big", "fx_report--small", "fx_small"]
    summary = json.loads((out / "summary.json").read_text())
    runs = summary["runs"]
    assert runs["fx_report--small"]["metrics"]["total_load"]["value"] == pytest.approx(expected_load(8))
    assert runs["fx_report--big"]["metrics"]["total_load"]["value"] == pytest.approx(expected_load(1024))
    assert runs["fx_report--big"]["metrics"]["total_load"]["unit"] == "units"
    assert runs["fx_small"]["metrics"]["sum"]["value"] == sum(range(3))
    verdicts = {(row["id"], row["verdict"]): row["runs"] for row in summary["ledger"]}
    assert verdicts[("C1", "holds")] == ["fx_report--small"]
    assert verdicts[("C1", "refuted")] == ["fx_report--big"]
    assert runs["fx_report--big"]["parameters"] == {"cpus": 1024, "label": "server"}


def test_executed_notebooks_hold_svg_and_records(built: tuple[Path, Path, BuildResult]) -> None:
    _, out, _ = built
    nb = json.loads((out / "fx_report--small.ipynb").read_text())
    mimes = [m for c in nb["cells"] for o in c.get("outputs", []) for m in o.get("data", {})]
    assert "image/svg+xml" in mimes and RECORD_MIME in mimes and CHART_MIME not in mimes
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "interactive = False" in "".join(injected[0]["source"])


def test_no_generated_html_loads_anything_off_page(built: tuple[Path, Path, BuildResult]) -> None:
    _, out, _ = built
    pages = sorted(out.glob("*.html"))
    assert {p.name for p in pages} == {
        "index.html",
        "fx_report--small.html",
        "fx_report--big.html",
        "fx_small.html",
    }
    for page in pages:
        parser = Resources()
        parser.feed(page.read_text(encoding="utf-8"))
        off = [r for r in parser.refs if not r.startswith(("data:", "#"))]
        assert off == [], page.name
    report = (out / "fx_report--small.html").read_text()
    assert "data:image/svg+xml" in report and "record(" not in report  # chart inline, code hidden
    index = (out / "index.html").read_text()
    assert "fx_report--small.html" in index and "C1" in index and "refuted" in index
    assert "tdxlib 0.1.0" in index or "tdxlib " in index


def test_second_build_executes_nothing(
    built: tuple[Path, Path, BuildResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, out, first = built
    # tdxlib/ may be edited by other work while the suite runs: pin the hash this build saw
    src = first.states[0].inputs["tdxlib"]
    monkeypatch.setattr(build_mod, "_source_hash", lambda: src)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(execute_mod, "execute_notebook", fail)
    html = (out / "fx_small.html").stat().st_mtime_ns
    again = build(config=cfg, out=out, progress=False)
    assert again.executed == [] and len(again.cached) == 3
    assert (out / "fx_small.html").stat().st_mtime_ns == html


def test_force_reruns(built: tuple[Path, Path, BuildResult], monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, out, first = built
    src = first.states[0].inputs["tdxlib"]
    monkeypatch.setattr(build_mod, "_source_hash", lambda: src)
    before = (out / "fx_small.html").stat().st_mtime_ns
    result = build(config=cfg, out=out, only=["fx_small"], force=True, progress=False)
    assert result.executed == ["fx_small"]
    assert sorted(result.cached) == ["fx_report--big", "fx_report--small"]
    assert (out / "fx_small.html").stat().st_mtime_ns != before


def test_failure_keeps_last_good_report(
    built: tuple[Path, Path, BuildResult], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, out, first = built
    src = first.states[0].inputs["tdxlib"]
    monkeypatch.setattr(build_mod, "_source_hash", lambda: src)
    good = (out / "fx_report--small.html").read_bytes()
    good_nb = (out / "fx_report--small.ipynb").read_bytes()
    cfg.write_text(
        YAML.replace("small: {cpus: 8}", "small: {cpus: 8, fail: true}") + "  # changed\n", encoding="utf-8"
    )
    failing = cfg.parent / "failing.yaml"
    failing.write_text(cfg.read_text().replace("  fx_small:\n", "  fx_small:\n    default: {n: 5}\n"))
    code = cli.main(["report", "-q", "--config", str(failing), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert (
        "fx_report.ipynb [set 'small']: cell 4 of 5, line 3: RuntimeError: fixture failure requested" in err
    )
    assert "> " in err and "raise RuntimeError" in err
    # the last good report is untouched; the failed notebook is kept aside
    assert (out / "fx_report--small.html").read_bytes() == good
    assert (out / "fx_report--small.ipynb").read_bytes() == good_nb
    assert (out / ".failed" / "fx_report--small.ipynb").is_file()
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    assert summary["runs"]["fx_report--small"]["status"] == "failed"
    assert summary["runs"]["fx_report--small"]["html"] == "fx_report--small.html"
    # the other runs completed
    assert summary["runs"]["fx_small"]["status"] == "ok"
    assert summary["runs"]["fx_small"]["metrics"]["sum"]["value"] == sum(range(5))
    assert not (out / ".tmp").exists()


def test_cell_timeout_names_the_cell(built: tuple[Path, Path, BuildResult], tmp_path: Path) -> None:
    cfg, _, _ = built
    slow = cfg.parent / "slow.yaml"
    slow.write_text("notebooks:\n  fx_small:\n    slow: {sleep_s: 120}\n", encoding="utf-8")
    result = build(config=slow, out=tmp_path / "out", timeout=2, progress=False)
    assert not result.ok
    message = str(result.errors[0])
    assert "fx_small.ipynb [set 'slow']: cell 3 of 3: CellTimeoutError" in message
    assert "a cell ran longer than the 2 s timeout" in message
    assert "time.sleep(sleep_s)" in message
    assert not (tmp_path / "out" / "fx_small--slow.html").exists()


def _png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows) of an 8-bit RGB/RGBA non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = bpp = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6) and body[12] == 0
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride, rows, prev = width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


@pytest.mark.browser
def test_report_renders_chart_in_headless_chromium(
    built: tuple[Path, Path, BuildResult], tmp_path: Path
) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    _, out, _ = built
    page = (out / "fx_report--small.html").resolve().as_uri()
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    check = check_page(out / "fx_report--small.html", chromium)
    assert check.ok and check.drawn == check.expected >= 1, check.line()
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", page], capture_output=True, timeout=120, check=True
    )
    _, _, bpp, rows = _png_pixels(shot.read_bytes())
    bar = sum(
        1
        for row in rows
        for i in range(0, len(row), bpp)
        if all(abs(row[i + k] - BAR_RGB[k]) <= 12 for k in range(3))
    )
    assert bar > 2000, f"only {bar} bar-coloured pixels: the chart did not render"
    index = check_page(out / "index.html", chromium)
    assert index.ok, index.line()  # every link from the index lands on a page that exists
    text = (out / "index.html").read_text()
    assert "fx_report--small.html" in text and "Claims ledger" in text


def test_a_kernel_that_dies_while_starting_is_started_again() -> None:
    from tdxlib.report import execute

    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise RuntimeError(execute._START_FAILURE)
        return "ran"

    assert execute._with_start_retries(flaky) == "ran" and len(calls) == 2

    def always_dies() -> str:
        calls.append(1)
        raise RuntimeError(execute._START_FAILURE)

    calls.clear()
    with pytest.raises(RuntimeError, match="kernel_info"):
        execute._with_start_retries(always_dies)
    assert len(calls) == execute.START_RETRIES + 1

    def other_error() -> str:
        calls.append(1)
        raise RuntimeError("Kernel didn't respond in 120 seconds")

    calls.clear()
    with pytest.raises(RuntimeError, match="respond"):
        execute._with_start_retries(other_error)
    assert len(calls) == 1  # a kernel that hangs is not started again: it would hang again
