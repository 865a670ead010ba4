"""The cache decisions and ``--check`` / ``--update-golden``, on crafted records (no kernel starts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from report_project import project

from tdxlib import cli
from tdxlib.report import build as build_mod
from tdxlib.report import execute as execute_mod
from tdxlib.report import runcache
from tdxlib.report.config import load_config
from tdxlib.report.golden import compare, golden_from_summary

YAML = "notebooks:\n  fx_report:\n    small: {cpus: 8}\n    big: {cpus: 1024}\n  fx_small:\n"


@pytest.fixture
def stable_hashes(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Pin the tdxlib/data hashes (other work may edit tdxlib/ while tests run)."""
    hashes = {"src": "s0", "data": "d0"}
    monkeypatch.setattr(build_mod, "_source_hash", lambda: hashes["src"])
    monkeypatch.setattr(build_mod, "_data_hash", lambda: hashes["data"])
    return hashes


@pytest.fixture
def no_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(execute_mod, "execute_notebook", fail)
    monkeypatch.setattr(execute_mod, "resolve_kernel", fail)


def _ledger(verdict_c1: str) -> list[dict[str, Any]]:
    return [
        {
            "id": "C1",
            "author": "A",
            "claim": "a small TD needs no extra vector",
            "verdict": verdict_c1,
            "evidence": "e",
        },
        {"id": "C2", "author": "B", "claim": "polling always works", "verdict": "holds", "evidence": "e"},
    ]


def fake_results(cfg_path: Path, out: Path, verdict: str = "holds", load: float = 31.5) -> None:
    """Write cache records (with the right keys) and report files, as if every run had executed."""
    cfg = load_config(cfg_path)
    states = build_mod.plan(cfg, out, cfg.runs, cfg.runs, False, cfg.jupyter_kernel)
    for s in states:
        record = {
            "key": s.key,
            "inputs": s.inputs,
            "run": s.run.name,
            "notebook": s.run.notebook,
            "set": s.run.set_name,
            "parameters": s.run.overrides,
            "metrics": {"total_load": {"value": load, "rel_tol": 1e-9, "abs_tol": 0.0}},
            "ledger": _ledger(verdict),
            "seconds": 1.0,
            "finished": "2024-01-01 00:00:00 UTC",
            "html": f"{s.run.name}.html",
            "ipynb": f"{s.run.name}.ipynb",
        }
        runcache.write_record(out, s.run.name, record)
        (out / f"{s.run.name}.html").write_text("<html></html>")
        (out / f"{s.run.name}.ipynb").write_text("{}")


def test_plan_names_what_changed(tmp_path: Path, stable_hashes: dict[str, str]) -> None:
    cfg_path = project(tmp_path, YAML)
    out = tmp_path / "reports"
    fake_results(cfg_path, out)
    cfg = load_config(cfg_path)

    def actions() -> dict[str, tuple[str, list[str]]]:
        return {
            s.run.name: (s.action, s.reasons)
            for s in build_mod.plan(cfg, out, cfg.runs, cfg.runs, False, cfg.jupyter_kernel)
        }

    assert {a for a, _ in actions().values()} == {"cached"}
    stable_hashes["src"] = "s1"
    assert actions()["fx_small"] == ("execute", ["tdxlib"])
    stable_hashes["src"], stable_hashes["data"] = "s0", "d1"
    assert actions()["fx_small"] == ("execute", ["data"])
    stable_hashes["data"] = "d0"
    nb = json.loads((cfg.path.parent / "fx_small.ipynb").read_text())
    nb["cells"][-1]["source"] += "\nprint(1)"
    (cfg.path.parent / "fx_small.ipynb").write_text(json.dumps(nb))
    got = actions()
    assert got["fx_small"] == ("execute", ["notebook"])
    assert got["fx_report--small"][0] == "cached"
    # outputs saved into the notebook (e.g. from JupyterLab) do not invalidate the cache
    nb = json.loads((cfg.path.parent / "fx_report.ipynb").read_text())
    nb["cells"][-1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x"}]
    (cfg.path.parent / "fx_report.ipynb").write_text(json.dumps(nb))
    assert actions()["fx_report--small"][0] == "cached"
    # a removed report file forces a re-run
    (out / "fx_report--big.html").unlink()
    assert actions()["fx_report--big"][0] == "execute"


def test_parameter_change_reruns_only_that_run(tmp_path: Path, stable_hashes: dict[str, str]) -> None:
    out = tmp_path / "reports"
    fake_results(project(tmp_path, YAML), out)
    cfg = load_config(project(tmp_path, YAML.replace("{cpus: 1024}", "{cpus: 512}")))
    got = {
        s.run.name: (s.action, s.reasons)
        for s in build_mod.plan(cfg, out, cfg.runs, cfg.runs, False, cfg.jupyter_kernel)
    }
    assert got["fx_report--big"] == ("execute", ["parameters"])
    assert got["fx_report--small"][0] == "cached"


def test_noop_build_executes_nothing_and_rewrites_nothing(
    tmp_path: Path, stable_hashes: dict[str, str], no_kernels: None
) -> None:
    cfg_path = project(tmp_path, YAML)
    out = tmp_path / "reports"
    fake_results(cfg_path, out)
    first = build_mod.build(config=cfg_path, out=out, progress=False)
    assert first.executed == [] and sorted(first.cached) == ["fx_report--big", "fx_report--small", "fx_small"]
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    again = build_mod.build(config=cfg_path, out=out, progress=False)
    assert again.executed == []
    assert stamps == {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"]["fx_report--big"]["parameters"] == {"cpus": 1024}
    assert summary["runs"]["fx_report--big"]["status"] == "ok"
    md = (out / "summary.md").read_text()
    assert "| fx_report--big |  | cpus=1024 | ok |" in md  # a notebook without a model names no kernel
    assert summary["runs"]["fx_report--big"]["kernel"] is None
    assert "seconds" not in md


def test_list_runs_nothing(
    tmp_path: Path, stable_hashes: dict[str, str], no_kernels: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg_path = project(tmp_path, YAML)
    out = tmp_path / "reports"
    fake_results(cfg_path, out)
    (out / "fx_small.html").unlink()
    assert cli.main(["report", "--list", "--config", str(cfg_path), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.startswith("fx_report--big") and "[cached]" in ln for ln in lines)
    assert any(ln.startswith("fx_small") and "would run" in ln for ln in lines)


def _cli(cfg: Path, out: Path, golden: Path, *flags: str) -> int:
    return cli.main(
        ["report", "-q", "--config", str(cfg), "--out", str(out), "--golden", str(golden), *flags]
    )


def test_check_fails_naming_claim_and_both_verdicts(
    tmp_path: Path, stable_hashes: dict[str, str], no_kernels: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg_path = project(tmp_path, YAML)
    out, golden = tmp_path / "reports", tmp_path / "summary.golden.json"
    fake_results(cfg_path, out, verdict="holds")
    assert _cli(cfg_path, out, golden, "--update-golden") == 0
    stored = json.loads(golden.read_text())
    assert stored["runs"]["fx_report--small"]["verdicts"]["C1"]["verdict"] == "holds"
    assert "seconds" not in golden.read_text() and "finished" not in golden.read_text()
    assert _cli(cfg_path, out, golden, "--check") == 0
    capsys.readouterr()

    fake_results(cfg_path, out, verdict="refuted")  # e.g. a VMM profile that stops injecting
    assert _cli(cfg_path, out, golden, "--check") == 1
    err = capsys.readouterr().err
    assert "claim C1 verdict flipped: 'holds' -> 'refuted'" in err
    assert "a small TD needs no extra vector" in err
    assert "fx_report--small" in err and "C2" not in err


def test_check_metric_tolerance(
    tmp_path: Path, stable_hashes: dict[str, str], no_kernels: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg_path = project(tmp_path, YAML)
    out, golden = tmp_path / "reports", tmp_path / "summary.golden.json"
    fake_results(cfg_path, out, load=31.5)
    assert _cli(cfg_path, out, golden, "--update-golden") == 0
    fake_results(cfg_path, out, load=31.5 * (1 + 1e-12))  # within the default 1e-9 relative
    assert _cli(cfg_path, out, golden, "--check") == 0
    fake_results(cfg_path, out, load=32.0)
    capsys.readouterr()
    assert _cli(cfg_path, out, golden, "--check", "--only", "fx_small") == 1
    err = capsys.readouterr().err
    assert "fx_small: metric total_load drifted: 31.5 -> 32.0" in err
    assert "fx_report" not in err  # --only limits the comparison


def test_check_without_golden_is_a_clear_error(
    tmp_path: Path, stable_hashes: dict[str, str], no_kernels: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg_path = project(tmp_path, YAML)
    out = tmp_path / "reports"
    fake_results(cfg_path, out)
    assert _cli(cfg_path, out, tmp_path / "none.json", "--check") == 1
    assert "--update-golden" in capsys.readouterr().err


def _view(verdicts: dict[str, str], metrics: dict[str, Any], tol: float = 1e-9) -> dict[str, Any]:
    return {
        "runs": {
            "r": {
                "parameters": {"cpus": 8},
                "verdicts": {k: {"verdict": v, "claim": f"claim {k}"} for k, v in verdicts.items()},
                "metrics": {k: {"value": v, "rel_tol": tol, "abs_tol": 0.0} for k, v in metrics.items()},
            }
        }
    }


def test_compare_lists_every_kind_of_change() -> None:
    golden = _view({"A": "holds", "B": "holds"}, {"x": 1.0, "n": 3, "s": "v", "l": [1, 2]})
    fresh = _view({"A": "refuted", "C": "holds"}, {"x": 1.1, "n": 3, "s": "w", "l": [1, 2], "new": 1})
    diffs = compare(golden, fresh)
    assert "r: claim A verdict flipped: 'holds' -> 'refuted' — claim A" in diffs
    assert any(d.startswith("r: claim B disappeared") for d in diffs)
    assert any(d.startswith("r: new claim C") for d in diffs)
    assert any(d.startswith("r: metric x drifted: 1.0 -> 1.1") for d in diffs)
    assert any(d.startswith("r: metric s drifted") for d in diffs)
    assert any(d.startswith("r: new metric new") for d in diffs)
    assert not any("metric n " in d or "metric l " in d for d in diffs)
    assert compare(golden, golden) == []
    assert compare(golden, {"runs": {}}) == [
        "r: run is in the golden summary but did not produce a fresh result"
    ]


def test_golden_skips_failed_runs() -> None:
    summary = {
        "runs": {"ok": {"status": "ok", "parameters": {}}, "bad": {"status": "failed", "parameters": {}}}
    }
    assert list(golden_from_summary(summary)["runs"]) == ["ok"]
