"""tdxlib.argument.claims.budget_checks: the vector-budget claims' deciding numbers, recomputed from the
vector layouts, and the inputs that flip each verdict."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from claim_helpers import assert_flips, default, nums

from tdxlib.argument.claims import budget_checks, check, key, key_at, ledger
from tdxlib.kernel.vectors import load_layout

IDS = ("system-vector-wasteful", "config-gated")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return ledger(ids=IDS)


def test_system_vector_budget_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "system-vector-wasteful")
    v8 = load_layout("linux-5.19-tdx-v8", TDX_GUEST_DETECTED=True)
    base = load_layout("linux-5.19")
    sv1, sv0 = v8.device_vectors_per_cpu(1), v8.device_vectors_per_cpu(0)
    dy1, dy0 = base.device_vectors_per_cpu(1), base.device_vectors_per_cpu(0)
    assert (n["device_vectors_per_cpu_system_vector"], n["device_vectors_per_cpu_dynamic"]) == (sv1, dy1)
    assert n["per_cpu_fraction"] == pytest.approx((dy1 - sv1) / dy1)
    assert n["per_cpu_fraction"] < 0.01
    for c in default("system-vector-wasteful", "cpus"):
        assert n[key_at("vectors_total_system_vector", c)] == c
        assert n[key_at("vectors_total_dynamic", c)] == 1
        assert n[key_at("device_capacity_system_vector", c)] == sv0 + (c - 1) * sv1
        assert n[key_at("device_capacity_dynamic", c)] == dy0 + (c - 1) * dy1 - 1
        assert n[key_at("offline_limit_system_vector", c)] < n[key_at("offline_limit_dynamic", c)]
        # one device IRQ past the system-vector limit: every hot-pluggable CPU refused, none for dynamic
        assert n[key_at("offline_refused_system_vector", c)] == c - 1
        assert n[key_at("offline_refused_dynamic", c)] == 0
    assert n["onset_load_fraction_min"] > 0.8


def test_config_gated_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "config-gated")
    for tag, cfg in (("off", {"INTEL_TDX_GUEST": False}), ("on", {"INTEL_TDX_GUEST": True})):
        b = load_layout("linux-5.19", **cfg)
        p = load_layout("linux-5.19-tdx-v8", **cfg)
        assert n[key("device_vectors_per_cpu", "linux-5.19", tag)] == b.device_vectors_per_cpu(1)
        assert n[key("device_vectors_per_cpu", "linux-5.19-tdx-v8", tag)] == p.device_vectors_per_cpu(1)
        assert b.device_vectors_per_cpu(1) - p.device_vectors_per_cpu(1) == 1
        assert n[key("FIRST_SYSTEM_VECTOR", "linux-5.19", tag)] == 0xEC
        assert n[key("FIRST_SYSTEM_VECTOR", "linux-5.19-tdx-v8", tag)] == 0xEB
    assert (
        n[key("device_vectors_per_cpu", "linux-5.19-tdx-v8", "on-bare-metal")]
        == n[key("device_vectors_per_cpu", "linux-5.19-tdx-v8", "off")]
    )
    assert n["distro_default_INTEL_TDX_GUEST"] == 1


# ------------------------------------------------------------------ flips


@pytest.mark.parametrize(
    ("claim_id", "params", "verdict"),
    [
        # flip: system-vector-wasteful — one CPU: the system vector is the one dynamic vector, no waste
        ("system-vector-wasteful", {"cpus": (1,)}, "fails"),
        # ... two CPUs: offlining one must fit every IRQ on the other, so the vector bites at half load
        ("system-vector-wasteful", {"cpus": (2,)}, "holds"),
        # flip: config-gated — a kernel whose layout the patch left alone pays nothing, config or not
        ("config-gated", {"patched": "linux-5.19"}, "holds"),
    ],
)
def test_a_parameter_flips_the_verdict(claim_id: str, params: dict[str, Any], verdict: str) -> None:
    assert_flips(claim_id, params, verdict)


def test_wasteful_onset_moves_with_the_machine_size() -> None:
    small = check("system-vector-wasteful", cpus=(2,)).numbers["onset_load_fraction_min"]
    big = check("system-vector-wasteful", cpus=(64,)).numbers["onset_load_fraction_min"]
    assert small < 0.5 < big


def test_config_gated_depends_when_the_timer_vector_moves_under_the_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Had v8 moved the timer vector only with CONFIG_INTEL_TDX_GUEST=y, kernels without the option
    would pay nothing; distribution kernels (built with it) would still pay: "depends"."""
    real = budget_checks.load_layout

    def gated(name: str, **cfg: Any) -> Any:
        if name == "linux-5.19-tdx-v8" and cfg.get("INTEL_TDX_GUEST") is False:
            return real("linux-5.19", INTEL_TDX_GUEST=False)
        return real(name, **cfg)

    monkeypatch.setattr(budget_checks, "load_layout", gated)
    v = check("config-gated")
    assert v.verdict == "depends"
    off = key("device_vectors_per_cpu", "linux-5.19-tdx-v8", "off")
    assert v.numbers[off] == v.numbers[key("device_vectors_per_cpu", "linux-5.19", "off")]
