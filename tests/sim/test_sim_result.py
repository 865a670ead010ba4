"""tdxlib.sim.result: the metrics record (frozen), results without frames, pickling."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle

import pandas.testing as pdt
import pytest

from tdxlib.errors import TdxlibError
from tdxlib.sim import Metrics, Scenario, run
from tdxlib.tdx.strategies import Polling, SystemVector


def test_metrics_record_shape():
    m = run(Scenario(cpus=4, strategy=Polling(), vmm="qemu-10.1", quotes=5)).metrics
    d = m.to_dict()
    assert set(d["latency_ms"]) == {"min", "p50", "p99", "max"}
    for key in (
        "quotes_issued",
        "completed_by_interrupt",
        "completed_by_poll",
        "timed_out",
        "failed",
        "lost_notifications",
        "spurious_interrupts",
        "vectors_per_cpu",
        "vectors_total",
        "offline_refused",
        "quotes_per_s",
        "wakeups",
        "fanout_callbacks",
        "reregistrations",
        "loss_window_s",
    ):
        assert key in d
    assert d["vectors_total"] == 0 and d["vectors_per_cpu"] == [0, 0, 0, 0]
    none = run(Scenario(cpus=2, strategy=SystemVector(), vmm="never-injects", quotes=1)).metrics.to_dict()
    assert none["latency_ms"]["p50"] is None and none["latency_mean_ms"] is None
    flat = m.flat()
    assert "latency_ms_p99" in flat and "vectors_per_cpu" not in flat


def test_nan_free_latency_when_completed():
    m = run(Scenario(cpus=2, strategy=SystemVector(), vmm="bsp-only", quotes=10)).metrics
    assert not any(math.isnan(v) for v in m.latency_ms.values())


def test_metrics_are_frozen_all_the_way_down():
    """A cached run hands the same Metrics to every caller: none can change what the next one reads."""
    m = run(Scenario(cpus=4, strategy=SystemVector(), vmm="ghci-1.0", quotes=5), frames=False).metrics
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.completed = 0  # type: ignore[misc]
    p50 = m.latency_ms["p50"]
    for change in (
        lambda: m.latency_ms.__setitem__("p50", 0.0),  # type: ignore[index]
        lambda: m.latency_ms.update(p50=0.0),  # type: ignore[attr-defined]
        lambda: m.latency_ms.pop("p50"),  # type: ignore[attr-defined]
        lambda: m.latency_ms.clear(),  # type: ignore[attr-defined]
    ):
        with pytest.raises(TypeError, match="frozen"):
            change()
    for change in (
        lambda: m.vectors_per_cpu.append(1),  # type: ignore[attr-defined]
        lambda: m.vectors_per_cpu.__setitem__(0, 9),  # type: ignore[attr-defined]
        lambda: m.vectors_per_cpu.sort(),  # type: ignore[attr-defined]
    ):
        with pytest.raises(TypeError, match="frozen"):
            change()
    assert m.latency_ms["p50"] == p50 and len(m.vectors_per_cpu) == 4
    copy = dict(m.latency_ms)
    copy["p50"] = 0.0  # a copy is the caller's own
    assert m.latency_ms["p50"] == p50
    back = pickle.loads(pickle.dumps(m))
    assert back == m and back.to_dict() == m.to_dict()
    d = m.to_dict()
    assert type(d["latency_ms"]) is dict and type(d["vectors_per_cpu"]) is list
    json.dumps(d)
    built = Metrics(latency_ms={"p50": 1.0}, vectors_per_cpu=[1, 2])  # type: ignore[arg-type]
    assert built.vectors_per_cpu == [1, 2] and built.flat()["vectors_max_per_cpu"] == 2
    with pytest.raises(TypeError):
        built.latency_ms["p50"] = 2.0  # type: ignore[index]


def test_metrics_only_result_refuses_frames_and_pickles(hotplug_scenario):
    r = run(hotplug_scenario, frames=False)
    with pytest.raises(TdxlibError, match="frames=True"):
        _ = r.events
    with pytest.raises(TdxlibError, match="quotes frame"):
        _ = r.quotes
    back = pickle.loads(pickle.dumps(r))
    assert back.metrics == r.metrics and back.scenario == r.scenario and not back.has_frames
    full = pickle.loads(pickle.dumps(run(hotplug_scenario)))
    pdt.assert_frame_equal(full.events, run(hotplug_scenario).events)
    assert "no frames" in repr(r) and "events" in repr(full)
