"""Where a build writes (issue 15): --out must be a folder, file-system errors are one clear line, two
builds into one --out at once both end up in the summary, a killed build's .tmp/ is cleaned next time.

Kernels and the renderer are replaced by fakes that write what a run leaves (its HTML, notebook and
cache record), so these tests exercise the build's own file handling in a second."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from report_project import project

from tdxlib import cli
from tdxlib import files as files_mod
from tdxlib.errors import DataError, ValidationError
from tdxlib.report import build as build_mod
from tdxlib.report import runcache

YAML = "notebooks:\n  fx_report:\n    small: {cpus: 8}\n  fx_small:\n"


class _NoRenderer:
    def __enter__(self) -> _NoRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def fake_kernels(monkeypatch: pytest.MonkeyPatch, before: Callable[[str], None] = lambda name: None) -> None:
    """Runs "execute" by writing their reports and cache record; ``before(run name)`` runs first."""

    def execute(state: Any, out: Path, kernel: str, timeout: float) -> Any:
        before(state.run.name)
        return None

    def finish(state: Any, executed: Any, out: Path, *args: Any) -> dict[str, Any]:
        name = state.run.name
        for suffix in ("html", "ipynb"):
            (out / f"{name}.{suffix}").write_text(name)
        record = {"key": state.key, "inputs": state.inputs, "run": name, "metrics": {}, "ledger": []}
        record |= {"html": f"{name}.html", "ipynb": f"{name}.ipynb"}
        runcache.write_record(out, name, record)
        return record

    monkeypatch.setattr(build_mod, "_execute_step", execute)
    monkeypatch.setattr(build_mod, "_finish_step", finish)
    monkeypatch.setattr(build_mod, "resolve_kernel", lambda name: name)
    monkeypatch.setattr(build_mod, "compile_tdxlib", lambda: True)
    monkeypatch.setattr(build_mod, "Renderer", _NoRenderer)


def test_out_that_is_a_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``tdxlib report --out FILE`` raised NotADirectoryError."""
    cfg = project(tmp_path, YAML)
    (tmp_path / "FILE").write_text("mine\n")
    assert cli.main(["report", "--config", str(cfg), "--out", str(tmp_path / "FILE"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "FILE: is not a directory" in err
    assert (tmp_path / "FILE").read_text() == "mine\n"


def test_a_read_only_out_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only reports/ raised PermissionError with a traceback (simulated: tests may run as root)."""
    cfg = project(tmp_path, YAML)
    out = tmp_path / "reports"
    fake_kernels(monkeypatch)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(out))

    monkeypatch.setattr(files_mod.tempfile, "mkstemp", refuse)
    assert cli.main(["report", "--config", str(cfg), "--out", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "Permission denied" in err and "reports/" in err and "Traceback" not in err
    )


def test_jobs_and_timeout_of_the_api_are_checked(tmp_path: Path) -> None:
    cfg = project(tmp_path, YAML)
    for kwargs in ({"jobs": 0}, {"jobs": -1}, {"timeout": float("nan")}, {"timeout": 0}):
        with pytest.raises(ValidationError):
            build_mod.build(config=cfg, out=tmp_path / "out", progress=False, **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


def test_two_builds_into_one_out_at_once_both_end_up_in_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both planned before either finished: the later summary called the other's run "missing"."""
    cfg = project(tmp_path, YAML)
    out = tmp_path / "reports"
    both_planned = threading.Barrier(2, timeout=30)
    first_done = threading.Event()

    def before(name: str) -> None:
        both_planned.wait()
        if name == "fx_small":
            assert first_done.wait(30)

    fake_kernels(monkeypatch, before)
    results: dict[str, Any] = {}

    def one(only: str) -> None:
        results[only] = build_mod.build(config=cfg, out=out, only=[only], progress=False)
        if only == "fx_report":
            first_done.set()

    threads = [threading.Thread(target=one, args=(o,)) for o in ("fx_report", "fx_small")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(results) == {"fx_report", "fx_small"}
    summary = json.loads((out / "summary.json").read_text())
    assert {k: v["status"] for k, v in summary["runs"].items()} == {
        "fx_report--small": "ok",
        "fx_small": "ok",
    }
    index = (out / "index.html").read_text()
    assert "fx_report--small.html" in index and "fx_small.html" in index


def test_leftovers_of_a_killed_build_are_removed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = project(tmp_path, YAML)
    out = tmp_path / "reports"
    dead = out / ".tmp" / "fx_small.k1ll3d"
    dead.mkdir(parents=True)
    (dead / "fx_small.ipynb").write_text("half")
    fake_kernels(monkeypatch)
    build_mod.build(config=cfg, out=out, progress=False)
    assert not (out / ".tmp").exists()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "fx_report--small.html",
        "fx_report--small.ipynb",
        "fx_small.html",
        "fx_small.ipynb",
        "index.html",
        "summary.json",
        "summary.md",
    ]


def test_a_binary_golden_file_is_a_clear_error(tmp_path: Path) -> None:
    """A binary --golden raised UnicodeDecodeError."""
    from tdxlib.report.golden import read_golden

    bad = tmp_path / "golden.json"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(DataError, match="not UTF-8 text") as exc:
        read_golden(bad)
    assert exc.value.path == bad
    with pytest.raises(DataError, match="is a directory"):
        read_golden(tmp_path)
