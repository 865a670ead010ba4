"""tdxlib.sim.sweep: many runs through executors, in input order; metrics only when asked."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pandas as pd
import pandas.testing as pdt
import pytest
from kernels import V8_OFFLINING

from tdxlib.errors import ValidationError
from tdxlib.sim import Scenario, metrics_frame, sweep
from tdxlib.tdx.strategies import make_strategy


def _small(n: int) -> list[Scenario]:
    names = ["system-vector", "dynamic", "polling", "caller-vcpu"]
    return [
        Scenario(
            cpus=4,
            strategy=make_strategy(names[i % 4], **({} if i % 4 == 2 else {"timeout_s": 5})),
            vmm="qemu-10.1",
            quotes=15,
            **V8_OFFLINING,
            hotplug=((0.5, 1 + i % 3, "offline"), (2.0, 1 + i % 3, "online")),
            seed=i,
        )
        for i in range(n)
    ]


def test_sweep_process_pool_in_input_order():
    scs = _small(6)
    serial = sweep(scs)
    with ProcessPoolExecutor(max_workers=2) as pool:
        par = sweep(scs, executor=pool)
    assert isinstance(serial, list) and isinstance(par, list)
    for a, b in zip(serial, par, strict=True):
        assert a.scenario == b.scenario
        pdt.assert_frame_equal(a.events, b.events)
        assert a.metrics.to_dict() == b.metrics.to_dict()
    with ThreadPoolExecutor(max_workers=2) as pool:
        table = sweep(scs, executor=pool, metrics_only=True)
    assert isinstance(table, pd.DataFrame)
    pdt.assert_frame_equal(table, metrics_frame(serial))
    assert list(table["seed"]) == list(range(6))


def test_sweep_without_frames_returns_metrics_only_results(hotplug_scenario):
    scs = [hotplug_scenario, hotplug_scenario.replace(seed=hotplug_scenario.seed + 1)]
    fast = sweep(scs, frames=False)
    assert isinstance(fast, list) and not any(r.has_frames for r in fast)
    assert [r.metrics for r in fast] == [r.metrics for r in sweep(scs)]


def test_sweep_takes_only_scenarios():
    with pytest.raises(ValidationError):
        sweep([*_small(1), "not a scenario"])  # type: ignore[list-item]
