"""Fuzzing the entry points that take user values: Scenario (and a run of what it accepts), strategies,
VMM profiles and latency models, the GetQuote buffer. Only TdxlibError comes out."""

from __future__ import annotations

import dataclasses
from typing import Any

from fuzzing import FUZZ, only_tdxlib_errors, scalars, trees
from hypothesis import event, given
from hypothesis import strategies as st

from tdxlib.sim import Scenario, run
from tdxlib.tdx import ghci
from tdxlib.tdx.strategies import STRATEGY_NAMES, make_strategy
from tdxlib.tdx.vmm import LatencyModel, load_profile, profile_names

small_floats = st.floats(-1, 5) | st.sampled_from([0.0, 0.001, 1e9, float("nan")])
strategy_params = st.dictionaries(
    st.sampled_from(
        [
            "timeout_s",
            "interval_ms",
            "drivers",
            "callback_list",
            "reregister",
            "reregister_delay_ms",
            "apic_targeting",
            "early",
            "target_cpu",
            "vector",
            "with_apic",
            "iterations",
            "fallback",
            "colour",
        ]
    ),
    st.integers(-1, 40)
    | small_floats
    | st.booleans()
    | st.none()
    | st.sampled_from(["no", {"name": "polling", "interval_ms": 5}]),
    max_size=4,
)
strategies = st.sampled_from([*STRATEGY_NAMES, "nope"]) | st.builds(
    lambda name, params: {"name": name, **params}, st.sampled_from([*STRATEGY_NAMES, "nope"]), strategy_params
)
#: Values a scenario field accepts (mostly), so that most scenarios are built and run.
VALID: dict[str, st.SearchStrategy[Any]] = {
    "cpus": st.integers(4, 12),
    "apic_ids": st.sampled_from(["identity", "x2apic-gaps"]),
    "layout": st.sampled_from(["linux-6.12", "linux-5.19-tdx-v8", "linux-5.19"]),
    "hz": st.sampled_from([100, 250, 300, 1000]),
    "extra_jiffy": st.booleans(),
    "device_irqs": st.integers(0, 60),
    "managed_queues": st.integers(0, 1),
    "strategy": st.sampled_from(STRATEGY_NAMES)
    | st.builds(
        lambda name, params: {"name": name, **params},
        st.sampled_from(["dynamic", "caller-vcpu", "dynamic-apic"]),
        st.fixed_dictionaries(
            {},
            optional={
                "timeout_s": st.floats(0.5, 30),
                "reregister": st.booleans(),
                "reregister_delay_ms": st.floats(0, 50),
                "drivers": st.integers(1, 3),
                "callback_list": st.booleans(),
                "fallback": st.just({"name": "polling", "interval_ms": 5}),
            },
        ),
    ),
    "vmm": st.sampled_from(profile_names()),
    "service_ms": st.none() | st.floats(0, 500),
    "workload": st.sampled_from(["closed", "open"]),
    "rate_per_s": st.floats(0.1, 20),
    "requesters": st.integers(1, 3),
    "quotes": st.integers(0, 5),
    "guest_work_ms": st.floats(0, 1),
    "think_ms": st.floats(0, 100),
    "backoff_ms": st.floats(0, 1000),
    "hotplug": st.lists(
        st.tuples(st.floats(0, 5), st.integers(1, 3), st.sampled_from(["offline", "online"])), max_size=4
    ),
    "hotplug_every_s": st.none() | st.floats(0.5, 2),
    "hotplug_cpus": st.sampled_from(["random", "notify", [1, 2], [3]]),
    "max_time_s": st.floats(1, 60),
    "seed": st.integers(0, 100),
}
#: What may replace one of them: the wrong type, out of range, huge, nested, unknown.
JUNK = (
    scalars
    | trees
    | st.sampled_from([-1, 0, 8193, 10**12, 7, "no", "nope", float("nan"), [], {}, [["a", "b"]]])
)


@FUZZ
@given(
    fields=st.fixed_dictionaries({}, optional=VALID),
    bad=st.none() | st.tuples(st.sampled_from([*VALID, "colour"]), JUNK),
)
def test_any_scenario_is_built_and_run_or_refused(
    fields: dict[str, Any], bad: tuple[str, Any] | None
) -> None:
    if bad is not None:
        fields[bad[0]] = bad[1]

    def build_and_run() -> None:
        sc = Scenario(**fields)
        event("built")
        if sc.quotes is not None and sc.quotes <= 100:
            run(sc, frames=False)
            event("ran")

    only_tdxlib_errors(build_and_run)


@FUZZ
@given(strategy=strategies)
def test_any_strategy_spec(strategy: Any) -> None:
    def make() -> None:
        if isinstance(strategy, str):
            make_strategy(strategy)
        else:
            params = dict(strategy)
            make_strategy(params.pop("name"), **params)

    only_tdxlib_errors(make)


@FUZZ
@given(
    field=st.sampled_from([f.name for f in dataclasses.fields(ghci.QuoteBuffer)] + ["colour"]),
    value=scalars | st.binary(max_size=40),
    status=st.integers(-1, 2**64) | scalars,
    quote=st.binary(max_size=40) | scalars,
)
def test_any_quote_buffer(field: str, value: Any, status: Any, quote: Any) -> None:
    def use() -> None:
        qb = ghci.QuoteBuffer(**{field: value})
        qb.completed(status, quote).to_bytes()

    only_tdxlib_errors(use)
    only_tdxlib_errors(lambda: ghci.QuoteBuffer.request(bytes(16)).completed(status, quote))


@FUZZ
@given(
    field=st.sampled_from([f.name for f in dataclasses.fields(load_profile("qemu-10.1"))] + ["colour"]),
    value=scalars | trees,
    latency=st.dictionaries(
        st.sampled_from(["kind", "ms", "low_ms", "high_ms", "median_ms", "sigma", "mean_ms", "x"]),
        scalars | st.sampled_from(["fixed", "uniform", "lognormal", "exponential"]),
        max_size=4,
    ),
)
def test_any_profile_or_latency_change(field: str, value: Any, latency: dict[str, Any]) -> None:
    only_tdxlib_errors(lambda: dataclasses.replace(load_profile("qemu-10.1"), **{field: value}))
    only_tdxlib_errors(lambda: LatencyModel(**latency))
