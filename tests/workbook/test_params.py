"""tdxlib.workbook.params: one model per notebook, the single source of its parameters cell and of the
checks of its parameter sets; "0 = none" is the notebook's value and converted once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from paths import ROOT

from tdxlib.errors import ValidationError
from tdxlib.report.config import load_config
from tdxlib.report.paramcell import cell_source, find_parameters_cell
from tdxlib.workbook.param_model import INTERACTIVE_LINE, facts
from tdxlib.workbook.params import (
    NOTEBOOK_PARAMS,
    DeliveryParams,
    HotplugParams,
    PollingParams,
    QuestionParams,
    model_for,
)

NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))


def _cell(stem: str) -> tuple[str, Any]:
    path = NOTEBOOK_DIR / f"{stem}.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    parsed = find_parameters_cell(nb, path)
    assert parsed.cell_index is not None, f"{stem} has no parameters cell"
    return cell_source(nb["cells"][parsed.cell_index]), parsed


def test_every_notebook_has_a_model() -> None:
    assert sorted(NOTEBOOK_PARAMS) == NOTEBOOKS
    assert all(model_for(stem) is NOTEBOOK_PARAMS[stem] for stem in NOTEBOOKS)
    assert model_for("fx_report") is None


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_the_parameters_cell_is_generated_from_the_model(stem: str) -> None:
    """Regenerate a cell with ``print(Model.parameters_cell())`` after changing its model."""
    source, _ = _cell(stem)
    assert source == NOTEBOOK_PARAMS[stem].parameters_cell()


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_the_cell_as_the_report_parser_reads_it_agrees_with_the_model(stem: str) -> None:
    """Names, types, defaults, help, ranges and choices: what tdxlib.report.paramcell reads off the cell
    is what the model declares."""
    model = NOTEBOOK_PARAMS[stem]
    _, parsed = _cell(stem)
    declared = parsed.parameters
    assert list(declared) == ["interactive", *model.model_fields]
    assert declared["interactive"].base is bool and declared["interactive"].default is True
    for name in model.model_fields:
        f, p = facts(model, name), declared[name]
        assert p.base is (list if f.is_list else f.kind), name
        default = list(f.default) if f.is_list else f.default
        assert p.default == default, name
        assert p.help == f.help_text() and p.help.startswith(f.help), name
        if not f.is_list:
            assert (p.low, p.high) == (f.low, f.high), name
            assert p.choices == f.choices, name
    assert model().model_dump() == {n: facts(model, n).default for n in model.model_fields}


def test_the_report_sets_are_accepted_by_their_models() -> None:
    cfg = load_config(NOTEBOOK_DIR / "reports.yaml")
    for run in [*cfg.runs, *cfg.reduced_runs]:
        model = NOTEBOOK_PARAMS[run.notebook]
        assert model.problems(run.overrides) == [], run.name
        model(**run.overrides)


@pytest.mark.parametrize("model", list(NOTEBOOK_PARAMS.values()), ids=lambda m: m.NOTEBOOK)
def test_models_are_frozen_hashable_cache_keys(model: Any) -> None:
    a, b = model(), model()
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    name = next(iter(model.model_fields))
    with pytest.raises(Exception, match="frozen"):
        setattr(a, name, getattr(a, name))
    for name in model.model_fields:
        assert facts(model, name).help, f"{model.__name__}.{name} has no help text"


@pytest.mark.parametrize(
    ("model", "values", "name", "fragment"),
    [
        (HotplugParams, {"cpus": 1}, "cpus", "an int in [2..64]"),
        (HotplugParams, {"cpus": 2.0}, "cpus", "an int"),
        (HotplugParams, {"rate_per_s": "4"}, "rate_per_s", "a number in [0.1..100]"),
        (HotplugParams, {"vmm": "qemu-9"}, "vmm", '"qemu-10.1"'),
        (HotplugParams, {"strategy": "polling"}, "strategy", '"caller-vcpu"'),
        (HotplugParams, {"online_at_s": 2.0}, "online_at_s", "after offline_at_s = 3"),
        (HotplugParams, {"offline_at_s": 12.0}, "offline_at_s", "duration_s = 10"),
        (HotplugParams, {"reregister": 1}, "reregister", "true or false"),
        (PollingParams, {"hz_values": [250, 333]}, "hz_values", "a list, each one of 100, 250, 300, 1000"),
        (PollingParams, {"poll_intervals_ms": [0]}, "poll_intervals_ms", "each an int in [1..60000]"),
        (DeliveryParams, {"workload": "burst"}, "workload", '"open", "closed"'),
        (DeliveryParams, {"vmms": "ghci-1.0"}, "vmms", "a list"),
        (QuestionParams, {"quotes": 21}, "quotes", "[1..20]"),
    ],
)
def test_bad_values_are_refused_naming_parameter_value_and_allowed(
    model: Any, values: dict[str, Any], name: str, fragment: str
) -> None:
    (problem,) = model.problems(values)
    assert problem.name == name and problem.value == next(iter(values.values()))
    assert fragment in problem.allowed
    with pytest.raises(ValidationError) as info:
        model(**values)
    assert info.value.what == name and fragment in str(info.value)


def test_unknown_names_are_refused() -> None:
    (problem,) = HotplugParams.problems({"vcpus": 4})
    assert problem.unknown and problem.name == "vcpus" and "cpus" in problem.allowed
    with pytest.raises(ValidationError, match="vcpus"):
        HotplugParams(vcpus=4)


def test_from_namespace_takes_the_models_names_only() -> None:
    ns = {"interactive": False, "cpus": 8, "seed": 3, "pd": object(), "metric": "completed_share"}
    p = DeliveryParams.from_namespace(ns)
    assert (p.cpus, p.seed, p.metric) == (8, 3, "completed_share")


def test_replace_validates_again() -> None:
    p = HotplugParams()
    assert p.replace(reregister=False).reregister is False and p.reregister is True
    with pytest.raises(ValidationError, match="online_at_s"):
        p.replace(online_at_s=1.0)


def test_zero_means_none_only_after_the_boundary() -> None:
    """The model keeps the notebook's 0; its properties give the library's None."""
    p = HotplugParams(online_at_s=0.0, service_ms=0.0)
    assert (p.online_at_s, p.service_ms) == (0.0, 0.0)
    assert (p.online_at, p.service) == (None, None)
    assert p.model_dump()["online_at_s"] == 0.0


def test_the_interactive_line_opens_every_cell() -> None:
    for model in NOTEBOOK_PARAMS.values():
        assert model.parameters_cell().splitlines()[0] == INTERACTIVE_LINE


def test_a_cell_that_drifted_from_its_model_fails_the_build(tmp_path: Path) -> None:
    from tdxlib.report.paramcell import ParameterError

    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    path = nb_dir / "04_hotplug.ipynb"
    nb = json.loads((NOTEBOOK_DIR / "04_hotplug.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in (c["metadata"].get("tags") or []))
    cell["source"] = [line for line in cell["source"] if not line.startswith("seed:")]
    path.write_text(json.dumps(nb), encoding="utf-8")
    (nb_dir / "reports.yaml").write_text("notebooks:\n  04_hotplug:\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"does not match its model .*HotplugParams \(missing: seed"):
        load_config(nb_dir / "reports.yaml")
