"""Parameters cells and reports.yaml: every bad parameter set fails before any kernel starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from paths import FIXTURES, ROOT
from report_project import project

from tdxlib.errors import DataError, ReportError
from tdxlib.report import build as build_mod
from tdxlib.report import execute as execute_mod
from tdxlib.report.config import load_config, run_name
from tdxlib.report.paramcell import ParameterError, parse_parameters_source

CELL = """\
cpus: int = 8  # number of vCPUs [1..8192]
mode: str = "static"  # choices: static|live
scale: float = 1.5  # factor [0..]
label: str | None = None  # optional
flags: list[int] = [1, 2]  # a list
kind: Literal["a", "b"] = "a"
guess = 3  # no annotation: int from the default
interactive: bool = True
"""


def test_parse_types_ranges_choices() -> None:
    cell = parse_parameters_source(CELL, Path("nb.ipynb"))
    p = cell.parameters
    assert list(p) == ["cpus", "mode", "scale", "label", "flags", "kind", "guess", "interactive"]
    assert (p["cpus"].base, p["cpus"].low, p["cpus"].high) == (int, 1, 8192)
    assert p["mode"].choices == ("static", "live")
    assert (p["scale"].low, p["scale"].high) == (0, None)
    assert p["label"].optional and p["label"].base is str
    assert p["kind"].choices == ("a", "b")
    assert p["guess"].base is int
    assert p["cpus"].help.startswith("number of vCPUs")


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"cpus": -4}, "'cpus' = -4 is out of range; expected an int in [1..8192]"),
        ({"cpus": 9000}, "out of range"),
        ({"cpus": "8"}, "'cpus' = '8' has the wrong type (str)"),
        ({"cpus": True}, "wrong type (bool)"),
        ({"cpus": 2.5}, "wrong type (float)"),
        ({"mode": "fast"}, 'not one of the choices; expected one of "static", "live"'),
        ({"scale": -0.1}, "out of range"),
        ({"kind": "c"}, "not one of the choices"),
        ({"guess": "x"}, "wrong type"),
        ({"flags": 3}, "wrong type"),
        ({"cpu": 8}, "unknown parameter 'cpu'; the notebook declares: cpus, flags, guess"),
    ],
)
def test_bad_values_are_named(values: dict[str, object], fragment: str) -> None:
    cell = parse_parameters_source(CELL, Path("nb.ipynb"))
    problems = cell.problems(values, "server")
    assert len(problems) == 1
    assert problems[0].startswith("nb.ipynb, parameter set 'server': ")
    assert fragment in problems[0]


def test_good_values_pass() -> None:
    cell = parse_parameters_source(CELL, Path("nb.ipynb"))
    ok: dict[str, object] = {
        "cpus": 8192,
        "scale": 3,
        "label": None,
        "mode": "live",
        "flags": [],
        "kind": "b",
        "guess": 0,
    }
    assert cell.problems(ok, "s") == []


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("x: int = 1\ny = x * 2\n", "not a literal; derive values in a later cell"),
        ("import os\n", "only `name: type = literal  # help` lines"),
        ("x: int = 0  # [1..4]\n", "default x = 0 is out of range"),
        ("x: set = 1\n", "unsupported annotation 'set'"),
        ("x: int = (\n", "parameters cell line"),
    ],
)
def test_bad_parameters_cell(source: str, fragment: str) -> None:
    with pytest.raises(ParameterError) as info:
        parse_parameters_source(source, Path("nb.ipynb"))
    assert fragment in str(info.value)
    assert "nb.ipynb" in str(info.value)


def test_config_runs_and_names(tmp_path: Path) -> None:
    cfg = load_config(
        project(
            tmp_path,
            "timeout: 30\nnotebooks:\n  fx_report:\n    small: {cpus: 8}\n    big: {cpus: 1024}\n"
            "  fx_small:\nreduced:\n  fx_report: {cpus: 2}\n",
        )
    )
    assert [r.name for r in cfg.runs] == ["fx_report--small", "fx_report--big", "fx_small"]
    assert cfg.timeout == 30
    assert cfg.runs[0].parameters == {"cpus": 8, "interactive": False}
    assert cfg.runs[0].overrides == {"cpus": 8}
    assert [r.name for r in cfg.reduced_runs] == ["fx_report--reduced", "fx_small"]
    assert cfg.reduced_runs[0].parameters["cpus"] == 2
    assert [r.name for r in cfg.select(["fx_report"])] == ["fx_report--small", "fx_report--big"]
    assert [r.name for r in cfg.select(["*--big"])] == ["fx_report--big"]
    with pytest.raises(ReportError, match="no such run"):
        cfg.select(["nope"])
    assert run_name("a", "default") == "a"


def _no_kernels(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []

    def fail(*args: object, **kwargs: object) -> None:
        started.append("kernel")
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(execute_mod, "execute_notebook", fail)
    monkeypatch.setattr(execute_mod, "resolve_kernel", fail)
    return started


@pytest.mark.parametrize(
    ("sets", "fragments"),
    [
        ("{cpus: -4}", ["fx_report.ipynb", "'bad'", "'cpus' = -4", "out of range", "[1..8192]"]),
        ("{cpus: eight}", ["fx_report.ipynb", "'bad'", "'cpus'", "wrong type (str)"]),
        ("{vcpus: 8}", ["fx_report.ipynb", "'bad'", "unknown parameter 'vcpus'"]),
        ("{interactive: true}", ["'interactive' is set by the pipeline"]),
    ],
)
def test_bad_sets_fail_before_any_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sets: str, fragments: list[str]
) -> None:
    started = _no_kernels(monkeypatch)
    cfg = project(
        tmp_path, f"notebooks:\n  fx_small:\n  fx_report:\n    good: {{cpus: 8}}\n    bad: {sets}\n"
    )
    with pytest.raises(ParameterError) as info:
        build_mod.build(config=cfg, out=tmp_path / "out", progress=False)
    for fragment in fragments:
        assert fragment in str(info.value)
    assert started == []
    assert not (tmp_path / "out").exists()


def test_all_problems_reported_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_kernels(monkeypatch)
    cfg = project(tmp_path, "notebooks:\n  fx_report:\n    a: {cpus: 0}\n    b: {mode: fast}\n")
    with pytest.raises(ParameterError) as info:
        build_mod.build(config=cfg, out=tmp_path / "out", progress=False)
    assert len(info.value.problems) == 2


@pytest.mark.parametrize(
    ("yaml_text", "fragment"),
    [
        ("notebooks:\n  missing_nb:\n", "notebook not found"),
        ("colour: red\nnotebooks: {}\n", "reports.yaml:1: colour: unknown field"),  # issue 15: one format
        ("timeout: -1\nnotebooks: {}\n", "reports.yaml:1: timeout: Input should be greater than 0, got -1"),
        ("timeout: .nan\nnotebooks: {}\n", "timeout: Input should be a finite number, got nan"),  # issue 15
        ("notebooks:\n  fx_small:\nreduced:\n  other: x\n", "'other' is not listed"),
        ("notebooks:\n  fx_small:\n    'bad name!': {}\n", "set name"),
        ("notebooks:\n  fx_small:\nreduced:\n  fx_small: nosuchset\n", "no set named 'nosuchset'"),
    ],
)
def test_config_errors(tmp_path: Path, yaml_text: str, fragment: str) -> None:
    with pytest.raises((DataError, ReportError)) as info:
        load_config(project(tmp_path, yaml_text))
    assert fragment in str(info.value)


def test_fixture_notebooks_have_no_outputs() -> None:
    for path in FIXTURES.glob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            assert not cell.get("outputs"), path
            assert cell.get("execution_count") is None, path


def test_kernel_must_be_this_environments_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    for name, exe in (("tdxlib", sys.executable), ("elsewhere", "/opt/other/bin/python3")):
        spec = tmp_path / "kernels" / name
        spec.mkdir(parents=True)
        argv = [exe, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": name, "language": "python"})
        )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    assert execute_mod.resolve_kernel("tdxlib") == "tdxlib"
    with pytest.raises(ReportError, match="runs /opt/other/bin/python3, not this environment's Python"):
        execute_mod.resolve_kernel("elsewhere")
    with pytest.raises(ReportError, match="'missing' is not installed"):
        execute_mod.resolve_kernel("missing")


@pytest.mark.parametrize(
    ("sets", "fragments"),
    [
        ("{cpus: 1}", ["'cpus' = 1 is out of range; expected an int in [2..64]"]),
        ("{cpus: 4.0}", ["'cpus' = 4.0 has the wrong type (float); expected an int in [2..64]"]),
        ("{rate_per_s: '4'}", ["'rate_per_s' = '4' has the wrong type (str)"]),
        ("{vmm: qemu-9}", ["'vmm' = 'qemu-9' is not one of the choices; expected one of", '"qemu-10.1"']),
        ("{strategy: polling}", ["'strategy' = 'polling' is not one of the choices"]),
        (
            "{online_at_s: 2.0}",
            ["'online_at_s' = 2.0 is not allowed; expected 0 (stays offline) or a time after"],
        ),
        ("{vcpus: 4}", ["unknown parameter 'vcpus'; the notebook declares: cpus, duration_s, interactive"]),
        ("{interactive: true}", ["'interactive' is set by the pipeline"]),
    ],
)
def test_a_notebook_with_a_model_has_its_sets_checked_by_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sets: str, fragments: list[str]
) -> None:
    started = _no_kernels(monkeypatch)
    cfg = project(
        tmp_path, f"notebooks:\n  04_hotplug:\n    good: {{cpus: 8}}\n    bad: {sets}\n", ROOT / "notebooks"
    )
    with pytest.raises(ParameterError) as info:
        build_mod.build(config=cfg, out=tmp_path / "out", progress=False)
    (problem,) = info.value.problems
    assert problem.startswith("04_hotplug.ipynb, parameter set 'bad': ")
    for fragment in fragments:
        assert fragment in problem
    assert started == []


def test_model_checks_cover_lists_and_every_problem_at_once(tmp_path: Path) -> None:
    cfg = project(
        tmp_path,
        "notebooks:\n  05_polling:\n    a: {hz_values: [250, 333], quotes: 1}\n"
        "  03_who_gets_the_interrupt:\n    b: {vmms: [ghci-1.0, nope]}\n",
        ROOT / "notebooks",
    )
    with pytest.raises(ParameterError) as info:
        load_config(cfg)
    text = str(info.value)
    assert len(info.value.problems) == 3
    assert "'hz_values' = [250, 333] is not one of the choices; expected a list, each one of 100" in text
    assert "'quotes' = 1 is out of range; expected an int in [5..1000]" in text
    assert "parameter set 'b': parameter 'vmms' = ['ghci-1.0', 'nope']" in text


def test_the_shipped_reports_yaml_passes_its_models() -> None:
    cfg = load_config(ROOT / "notebooks" / "reports.yaml")
    assert {r.notebook for r in cfg.runs} >= {"01_the_question", "04_hotplug", "06_proposals"}
    assert all(r.parameters["interactive"] is False for r in cfg.runs)


def test_a_flood_of_problems_is_counted_not_listed() -> None:
    err = ParameterError([f"problem {i}" for i in range(500)])
    assert len(err.problems) == 500
    assert "problem 19" in str(err) and "problem 20" not in str(err) and "... and 480 more" in str(err)


@pytest.mark.parametrize(
    ("yaml_text", "field", "fragment"),
    [
        ("notebooks:\n  fx_small:\n    s: {when: 2022-06-20}\n", "notebooks.fx_small.s.when", "valid JSON"),
        ("jupyter_kernel: ''\nnotebooks: {}\n", "jupyter_kernel", "at least 1 character"),
        ("notebooks:\n  fx_small: {}\n", "notebooks.fx_small", "at least 1 item"),
        ("notebooks: [fx_small]\n", "notebooks", "a mapping"),
    ],
)
def test_the_shape_of_reports_yaml_is_its_model(
    tmp_path: Path, yaml_text: str, field: str, fragment: str
) -> None:
    with pytest.raises(DataError) as info:
        load_config(project(tmp_path, yaml_text))
    assert info.value.field == field and fragment in str(info.value)
