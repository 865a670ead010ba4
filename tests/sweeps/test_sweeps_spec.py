"""tdxlib.sweeps.spec: the sweep spec file kind — the shipped specs load, every mistake is reported at
its file, line and field, and a point of the grid becomes the Scenario fields it stands for."""

from __future__ import annotations

from pathlib import Path

import pytest

from tdxlib.errors import DataError, ValidationError
from tdxlib.sim import Scenario
from tdxlib.sweeps.paths import spec_names
from tdxlib.sweeps.spec import DEFAULT_METRICS, METRIC_NAMES, SweepSpec, load_spec, value_label
from tdxlib.tdx.strategies import CallerVcpu, Polling

GOOD = """\
name: t
seeds: 2
base:
  workload: open
  quotes: 5
axes:
  strategy: [system-vector, {name: polling, interval_ms: 5}]
  cpus: [2, 8]
  device_irqs: {per_cpu: [0, 10]}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_specs_load_and_the_default_is_small() -> None:
    assert {"default", "quick", "large"} <= set(spec_names())
    default = load_spec("default")
    assert 500 <= default.cells <= 2500  # the report's: under a minute on two cores
    assert load_spec("quick").cells < 100
    assert load_spec("large").cells >= 100_000


def test_a_spec_reads_its_axes_in_order_with_their_columns(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, GOOD))
    assert list(spec.axes) == ["strategy", "cpus", "device_irqs"]
    assert spec.column("device_irqs") == "device_irqs_per_cpu" and spec.column("cpus") == "cpus"
    assert spec.points == 8 and spec.cells == 16
    assert spec.partition_axis == "strategy"
    assert spec.metrics == DEFAULT_METRICS and set(spec.metrics) <= set(METRIC_NAMES)
    assert "notify-works" in spec.claim_ids


def test_a_point_becomes_scenario_fields(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, GOOD))
    fields = spec.fields_of(
        {"strategy": {"name": "polling", "interval_ms": 5}, "cpus": 8, "device_irqs": 10}, 7
    )
    assert fields["device_irqs"] == 80 and fields["seed"] == 7 and fields["quotes"] == 5
    sc = Scenario(**fields)
    assert isinstance(sc.strategy, Polling) and sc.strategy.interval_ms == 5 and sc.device_irqs == 80


def test_a_proposal_axis_sets_the_strategy_and_the_vmm(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, "name: p\naxes:\n  proposal: [caller-vcpu, polling-only]\n"))
    sc = Scenario(**spec.fields_of({"proposal": "caller-vcpu"}, 0))
    assert isinstance(sc.strategy, CallerVcpu)
    assert sc.profile().name == "ghci-1.5-caller"  # the proposal's VMM behaviour


def test_value_labels_are_scalars() -> None:
    assert value_label(8) == 8 and value_label("ghci-1.0") == "ghci-1.0"
    assert value_label({"name": "polling", "interval_ms": 5}) == "polling interval_ms=5"


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("name: t\naxes:\n  cpuz: [1]\n", 3, "axes.cpuz", "not a Scenario field"),
        ("name: t\naxes:\n  seed: [1, 2]\n", 3, "axes.seed", "seed is derived"),
        ("name: t\naxes:\n  cpus: [2, 8, 99999]\n", 3, "axes.cpus[2]", "cpus"),
        ("name: t\naxes:\n  cpus:\n    - 2\n    - two\n", 5, "axes.cpus[1]", "values of one kind"),
        ("name: t\naxes:\n  cpus: [2, 2]\n", 3, "axes.cpus[1]", "given twice"),
        ("name: t\naxes:\n  cpus: {per_cpu: [1]}\n", 3, "axes.cpus", "per CPU"),
        ("name: t\nmetrics: [lost]\naxes:\n  cpus: [2]\n", 2, "metrics[0]", "not a metric"),
        ("name: t\nclaims: [config-gated]\naxes:\n  cpus: [2]\n", 2, "claims[0]", "no per-cell predicate"),
        ("name: t\nbase: {cpus: 4}\naxes:\n  cpus: [2]\n", 2, "base.cpus", "also an axis"),
        ("name: t\naxes:\n  proposal: [caller-vcpu]\n  vmm: [ghci-1.0]\n", 4, "axes.vmm", "proposal"),
        ("name: t\nseeds: 0\naxes:\n  cpus: [2]\n", 2, "seeds", "greater than or equal to 1"),
        ("name: t\naxes: {}\n", 2, "axes", "at least 1"),
        ("name: t\naxes:\n  cpus: [2]\ncolour: red\n", 4, "colour", "unknown field"),
        ("name: t\naxes:\n  vmm: [ghci-1.0, no-such-vmm]\n", 3, "axes.vmm[1]", "vmm"),
        # found by fuzzing: a per-CPU load needs a number of vCPUs to multiply by
        (
            "name: t\naxes:\n  cpus: [null]\n  device_irqs: {per_cpu: [2]}\n",
            3,
            "axes.cpus[0]",
            "vCPUs",
        ),
        ("name: t\naxes:\n  device_irqs: {per_cpu: [1.0e308]}\n", 3, "axes.device_irqs.per_cpu[0]", "finite"),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, words: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DataError) as err:
        load_spec(path)
    assert err.value.path == path
    assert err.value.line == line, str(err.value)
    assert (err.value.field or "(top level)") == field, str(err.value)
    assert words in str(err.value)


def test_an_unknown_spec_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ValidationError, match="default"):
        load_spec("no-such-sweep")


def test_an_edited_spec_is_read_again(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    assert load_spec(path).seeds == 2
    path.write_text(GOOD.replace("seeds: 2", "seeds: 3 "), encoding="utf-8")
    assert load_spec(path).seeds == 3


def test_a_spec_object_passes_through() -> None:
    spec = SweepSpec(name="x", axes={"cpus": [2]})
    assert load_spec(spec) is spec
