"""tdxlib.workbook.simruns: memoised runs equal fresh ones; no caller can change what the next one gets."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from tdxlib import cache
from tdxlib.errors import ValidationError
from tdxlib.sim import Scenario, run
from tdxlib.workbook.simruns import metrics_cached, run_cached, scenario_key, strategy_spec

KEY = scenario_key(cpus=4, strategy={"name": "dynamic"}, vmm="random-vcpu", quotes=6, seed=9)


def test_metrics_cache_matches_full_runs() -> None:
    assert metrics_cached(KEY).to_dict() == run_cached(KEY).metrics.to_dict()
    fresh = run(Scenario(cpus=4, strategy={"name": "dynamic"}, vmm="random-vcpu", quotes=6, seed=9))
    assert metrics_cached(KEY).to_dict() == fresh.metrics.to_dict()
    pd.testing.assert_frame_equal(run_cached(KEY).events, fresh.events)


def test_scenario_keys_are_order_free_and_leave_out_none() -> None:
    a = scenario_key(cpus=4, strategy={"name": "dynamic", "early": True}, service_ms=None)
    b = scenario_key(strategy={"early": True, "name": "dynamic"}, cpus=4)
    assert a == b and hash(a) == hash(b)


def test_cached_values_are_copies_no_caller_can_change() -> None:
    key = scenario_key(cpus=4, strategy={"name": "caller-vcpu"}, vmm="qemu-10.1", quotes=6, seed=1)
    before = metrics_cached(key).to_dict()
    first = metrics_cached(key)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.completed = -1  # type: ignore[misc]
    with pytest.raises(TypeError, match="frozen"):
        first.latency_ms["p50"] = -1.0
    assert metrics_cached(key).to_dict() == before
    result = run_cached(key)
    events = len(result.events)
    result.events["time_s"] = -1.0
    assert len(run_cached(key).events) == events > 0
    assert (run_cached(key).events["time_s"] >= 0).all()
    assert run_cached(key).metrics.to_dict() == before


def test_the_memos_are_registered_for_clear_all() -> None:
    metrics_cached(KEY)
    assert metrics_cached.cache_info().currsize > 0  # type: ignore[attr-defined]
    cache.clear_all()
    assert metrics_cached.cache_info().currsize == 0  # type: ignore[attr-defined]
    assert run_cached.cache_info().currsize == 0  # type: ignore[attr-defined]


def test_strategy_spec_names_the_known_strategies() -> None:
    assert strategy_spec("polling", interval_ms=5) == {"name": "polling", "interval_ms": 5}
    with pytest.raises(ValidationError, match="caller-vcpu"):
        strategy_spec("no-such-strategy")
