"""tdxlib.sim.scenario: validation, scenario records and files, VMM profiles read again when edited."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tdxlib.data
from tdxlib.errors import DataError, ValidationError
from tdxlib.sim import Scenario, load_scenario, run
from tdxlib.tdx.strategies import DynamicIrq, Polling


def test_scenario_validation():
    for bad in (
        dict(cpus=0),
        dict(hz=0),
        dict(vmm="nope"),
        dict(strategy="nope"),
        dict(quotes=-1),
        dict(hotplug=((1.0, 0, "offline"),)),
        dict(hotplug=((1.0, 9, "offline"),)),
        dict(hotplug=((1.0, 1, "sideways"),)),
        dict(workload="bursty"),
        dict(rate_per_s=0),
        dict(hotplug_cpus=(0,)),
        dict(seed=-1),
        dict(apic_ids="mesh"),
        dict(service_ms=-1.0),
    ):
        with pytest.raises(ValidationError):
            Scenario(**bad)
    assert Scenario().quotes == 100 and Scenario(duration_s=5.0).quotes is None


def test_the_first_bad_field_is_reported():
    """The checks run in field order, so a scenario with several bad values names the first."""
    with pytest.raises(ValidationError) as exc:
        Scenario(cpus=0, hz=0, vmm="nope", seed=-1)
    assert exc.value.what == "cpus"
    with pytest.raises(ValidationError) as exc:
        Scenario(strategy="nope", vmm="nope", workload="bursty")
    assert "strategy" in str(exc.value)
    with pytest.raises(ValidationError) as exc:
        Scenario(rate_per_s=0, hotplug_cpus=(0,), max_time_s=-1)
    assert exc.value.what == "rate_per_s"


def test_scenario_from_mapping_and_yaml(tmp_path):
    sc = Scenario.from_dict(
        {"cpus": 4, "strategy": {"name": "polling", "interval_ms": 5}, "hotplug": [[1, 2, "offline"]]}
    )
    assert sc.strategy == Polling(interval_ms=5) and sc.hotplug[0].cpu == 2
    assert Scenario.from_dict(sc.to_dict()) == sc
    f = tmp_path / "s.yaml"
    f.write_text("cpus: 4\nvmm: random-vcpu\nstrategy:\n  name: dynamic\n  apic_targeting: true\nquotes: 7\n")
    loaded = load_scenario(f)
    assert loaded.strategy == DynamicIrq(apic_targeting=True) and loaded.quotes == 7
    assert load_scenario(f, cpus=8).cpus == 8
    bad = tmp_path / "bad.yaml"
    bad.write_text("cpus: 4\nquotes: 3\ncolour: blue\n")
    with pytest.raises(DataError, match=r"bad.yaml:3.*colour"):
        load_scenario(bad)
    worse = tmp_path / "worse.yaml"
    worse.write_text("cpus: 4\nhz: 7777\n")
    with pytest.raises(DataError, match=r"worse.yaml:2"):
        load_scenario(worse)
    with pytest.raises(DataError, match="not found"):
        load_scenario(tmp_path / "missing.yaml")


# -- VMM profiles edited in a running session -------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder like the shipped one whose ``vmm/`` profiles are copies a test may edit."""
    real = tdxlib.data.DATA_DIR
    data = tmp_path / "data"
    data.mkdir()
    for entry in real.iterdir():
        if entry.name != "vmm":
            (data / entry.name).symlink_to(entry)
    (data / "vmm").mkdir()
    for profile in (real / "vmm").glob("*.yaml"):
        (data / "vmm" / profile.name).write_text(profile.read_text())
    monkeypatch.setattr(tdxlib.data, "DATA_DIR", data)
    return data


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    before = path.stat().st_mtime_ns
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))  # a new mtime even on a coarse clock


def test_an_edited_vmm_profile_is_used_on_the_next_run(data_dir: Path):
    sc = Scenario(cpus=4, strategy="system-vector", vmm="ghci-1.0", quotes=5)
    first = run(sc, frames=False).metrics
    assert first.notifications_injected == 5 and first.completed == 5
    _edit(data_dir / "vmm" / "ghci-1.0.yaml", "inject_probability: 1.0", "inject_probability: 0.0")
    again = run(sc, frames=False).metrics  # the same session, the same scenario object
    assert again.notifications_injected == 0 and again.not_injected == 1  # the first hangs: no timeout
    assert again.hung == 1 and again.completed == 0
    assert sc.profile().inject_probability == 0.0


def test_a_profile_added_to_the_folder_can_be_named(data_dir: Path):
    sc = Scenario(cpus=4, strategy="system-vector", vmm="ghci-1.0", quotes=3)  # names listed now
    text = (data_dir / "vmm" / "ghci-1.0.yaml").read_text()
    (data_dir / "vmm" / "my-vmm.yaml").write_text(text.replace("name: ghci-1.0", "name: my-vmm"))
    mine = sc.replace(vmm="my-vmm")
    assert mine.profile().name == "my-vmm"
    assert run(mine, frames=False).metrics.to_dict() == run(sc, frames=False).metrics.to_dict()


def test_kernel_gives_layout_hz_and_msleep_and_the_old_fields_override_it():
    default = Scenario().guest_kernel()
    assert (default.name, default.layout, default.hz, default.extra_jiffy) == (
        "linux-5.19-tdx-v8",
        "linux-5.19-tdx-v8",
        250,
        True,
    )
    k = Scenario(kernel="rhel-10").guest_kernel()
    assert (k.layout, k.hz, k.extra_jiffy, k.offlining.allowed) == ("linux-6.12", 1000, False, True)
    o = Scenario(kernel="rhel-10", hz=250, extra_jiffy=True, layout="linux-6.6").guest_kernel()
    assert (o.layout, o.hz, o.extra_jiffy) == ("linux-6.6", 250, True)
    d = Scenario(kernel="linux-6.12", hz=1000).to_dict()
    assert (d["kernel"], d["hz"], d["layout"], d["extra_jiffy"]) == ("linux-6.12", 1000, None, None)
    assert Scenario.from_dict(d) == Scenario(kernel="linux-6.12", hz=1000)


def test_an_unknown_kernel_lists_the_known_ones_and_a_bad_override_names_itself(tmp_path):
    from tdxlib.kernel.profile import kernel_names

    with pytest.raises(ValidationError) as exc:
        Scenario(kernel="linux-2.6")
    assert exc.value.what == "kernel" and all(n in exc.value.allowed for n in kernel_names())
    with pytest.raises(ValidationError) as exc:
        Scenario(hz=0)
    assert exc.value.what == "hz"
    f = tmp_path / "s.yaml"
    f.write_text("cpus: 4\nkernel: linux-2.6\n")
    with pytest.raises(DataError) as derr:
        load_scenario(f)
    assert derr.value.line == 2


def test_the_kernels_hz_and_msleep_reach_the_poller():
    """A 50 ms poller at HZ 1000 without the extra jiffy wakes earlier than at HZ 250 with it (at 1 s both
    land on 1024 ms: 251 jiffies of 4 ms round up to 256, 1000 of 1 ms to 1024 in the coarser wheel level)."""
    base = Scenario(strategy=Polling(interval_ms=50), vmm="qemu-10.1", service_ms=10.0, quotes=20, seed=3)
    old = run(base, frames=False).metrics.latency_ms["p50"]
    new = run(base.replace(kernel="rhel-10", layout="linux-5.19-tdx-v8"), frames=False).metrics.latency_ms[
        "p50"
    ]
    assert new < old
    assert run(base.replace(hz=1000, extra_jiffy=False), frames=False).metrics.latency_ms["p50"] == new


# -- issue 15: fields are validated by the model, never coerced with int() ----------------------------


@pytest.mark.parametrize(
    ("fields", "what", "allowed"),
    [
        ({"apic_ids": ["a", "b"]}, "apic_ids", "a list of APIC IDs"),  # was: ValueError from int()
        ({"hotplug": 5}, "hotplug", "a list"),  # was: TypeError, int is not iterable
        ({"bogus": 1}, "bogus", "one of apic_ids, backoff_ms, cpus"),  # was: TypeError, unexpected keyword
        ({"extra_jiffy": "no"}, "extra_jiffy", "true or false"),  # was: accepted (a true string)
        ({"hz": 7}, "hz", "one of 100, 250, 300, 1000"),  # was: accepted (not a Kconfig choice)
        ({"hz": 250.0}, "hz", "one of 100, 250, 300, 1000"),
        ({"cpus": "8"}, "cpus", "an integer in 1..8192"),
        ({"cpus": 8193}, "cpus", "an integer in 1..8192"),
        ({"rate_per_s": float("nan")}, "rate_per_s", "a finite number > 0"),
        ({"requesters": 10**9}, "requesters", "an integer in 1..65536"),
    ],
)
def test_a_bad_field_names_itself_the_value_and_what_is_allowed(
    fields: dict[str, object], what: str, allowed: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        Scenario(**fields)  # type: ignore[arg-type]
    assert exc.value.what == what and allowed in exc.value.allowed
    with pytest.raises(ValidationError) as again:
        Scenario.from_dict(fields)
    assert again.value.what == what


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ("apic_ids: [a, b]", "apic_ids", "got ['a', 'b']"),
        ("hotplug: 5", "hotplug", "should be a list, got 5"),
        ("extra_jiffy: 'no'", "extra_jiffy", "valid boolean, got 'no'"),
        ("hz: 7", "hz", "expected one of 100, 250, 300, 1000 (kernel/Kconfig.hz), got 7"),
        ("date: 2022-13-45", None, "2022-13-45"),  # a value YAML cannot build: the reader's error
        ("seed: " + "7" * 5000, None, "as int"),
    ],
)
def test_a_bad_scenario_file_names_file_line_and_field(
    tmp_path: Path, line: str, field: str | None, words: str
) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(f"cpus: 4\n{line}\nquotes: 2\n")
    with pytest.raises(DataError) as exc:
        load_scenario(f)
    assert (exc.value.path, exc.value.line, exc.value.field) == (f, 2, field)
    assert words in str(exc.value)


def test_numpy_integers_and_paths_are_accepted(tmp_path: Path) -> None:
    import numpy as np

    sc = Scenario(cpus=np.int64(4), seed=np.int32(3), vmm=Path("some-vmm.yaml"), quotes=np.int64(2))
    assert (type(sc.cpus), sc.cpus, sc.seed, sc.vmm, sc.quotes) == (int, 4, 3, "some-vmm.yaml", 2)
    assert hash(sc) == hash(Scenario(cpus=4, seed=3, vmm="some-vmm.yaml", quotes=2))


def test_replace_validates_and_keeps_the_quotes_default() -> None:
    sc = Scenario(cpus=4)
    assert sc.quotes == 100 and sc.replace(seed=1).quotes == 100
    with pytest.raises(ValidationError, match="cpus = 0"):
        sc.replace(cpus=0)
    assert Scenario(duration_s=2.0).replace(seed=3).quotes is None


def test_the_json_schema_describes_the_file_format() -> None:
    from tdxlib.models import json_schema

    schema = json_schema(Scenario)
    assert schema["additionalProperties"] is False
    hz = schema["properties"]["hz"]["anyOf"]  # a Kconfig choice, or null: the kernel's
    assert [100, 250, 300, 1000] in [choice.get("enum") for choice in hz]
    assert schema["properties"]["cpus"]["maximum"] == 8192
    assert "polling" in str(schema["properties"]["strategy"])


def test_hotplug_cannot_outrun_the_kernel() -> None:
    """Found by fuzzing: ``hotplug_every_s=1e-6`` made a 30 s run of 30 million events (250 s)."""
    with pytest.raises(ValidationError, match=r"hotplug_every_s = 1e-06 .*>= 0\.01"):
        Scenario(hotplug_every_s=1e-6)
    with pytest.raises(ValidationError, match=r"hotplug_every_s = 0\.05 .*200,000 events"):
        Scenario(duration_s=1e5, hotplug_every_s=0.05)  # a run that may last a day: 1.7 million events
    with pytest.raises(ValidationError, match=r"hotplug_every_s = 0\.1 .*>= 0\.432"):
        Scenario(hotplug_every_s=0.1)  # 100 quotes, but if they hang the run lasts max_time_s (a day)
    assert Scenario(hotplug_every_s=0.01, max_time_s=60).hotplug_every_s == 0.01


def test_quotes_are_bounded() -> None:
    with pytest.raises(ValidationError, match="quotes = 10000000"):
        Scenario(quotes=10**7)
