"""tdxlib.argument.claims.hotplug_checks: offlining the notify IRQ's CPU migrates it; the loss lasts a
re-registration window with re-registration and for good without — the numbers and the flips."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pandas as pd
import pytest
from claim_helpers import assert_flips, default, nums

from tdxlib.argument.claims import check, hotplug_checks, key, key_by, ledger

CLAIM = "hotplug-needs-reregistration"
DESIGNS = ("dynamic-apic", "caller-vcpu")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return ledger(ids=[CLAIM])


def test_hotplug_window_with_and_losses_growing_without(table: pd.DataFrame) -> None:
    n = nums(table, CLAIM)
    delay_s = default(CLAIM, "reregister_delay_ms") / 1000.0
    short, long_ = sorted(default(CLAIM, "durations"))
    assert n["nobalancing_new_cpu"] != n["nobalancing_old_cpu"]
    for d in DESIGNS:
        assert n[key("migrations", d)] == 1
        assert n[key("notify_cpu_after", d)] not in (n[key("target_cpu", d)], -1)
        assert n[key("loss_window_s", d)] == pytest.approx(delay_s)
        assert n[key("lost_reregister", d)] == n[key("injected_in_window", d)]
        lost_short = n[key(key_by("lost_no_reregister", short), d)]
        lost_long = n[key(key_by("lost_no_reregister", long_), d)]
        assert n[key("lost_reregister", d)] < lost_short < lost_long
        assert lost_long == n[key(key_by("injected_after_offline", long_), d)]
        # roughly rate * time after the offline: the loss does not stop
        rate = default(CLAIM, "rate_per_s")
        off = default(CLAIM, "offline_at_s")
        expected = rate * (long_ - off)  # Poisson arrivals after the offline
        assert abs(lost_long - expected) <= 5 * math.sqrt(expected)


# ------------------------------------------------------------------ flips


def test_a_parameter_flips_the_verdict() -> None:
    # flip: hotplug-needs-reregistration — the CPU goes offline only after the short run has ended:
    # nothing is lost by then, so the runs do not show a loss that grows without re-registration
    assert_flips(CLAIM, {"durations": (3.0, 60.0)}, "fails")


def test_a_longer_reregistration_costs_more() -> None:
    fast = check(CLAIM, reregister_delay_ms=100.0).numbers
    slow = check(CLAIM, reregister_delay_ms=2000.0).numbers
    for d in DESIGNS:
        assert fast[key("loss_window_s", d)] < slow[key("loss_window_s", d)]
        assert fast[key("lost_reregister", d)] < slow[key("lost_reregister", d)]


class _Altered:
    """A run with some of its metrics replaced (e.g. as if the IRQ had not moved), all else the same."""

    def __init__(self, result: Any, **metrics: Any) -> None:
        self._result = result
        self.metrics = dataclasses.replace(result.metrics, **metrics)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)


@pytest.mark.parametrize(
    ("altered", "why"),
    [
        ({"notify_migrations": 0}, "the IRQ did not move: the claim's first half is not shown"),
        ({"loss_window_s": 0.0}, "losses outside any re-registration window: the loss is not bounded"),
    ],
)
def test_each_part_of_the_claim_is_needed(
    monkeypatch: pytest.MonkeyPatch, altered: dict[str, Any], why: str
) -> None:
    """The verdict holds only if the IRQ moved, the loss with re-registration stays within its window
    and the loss without grows: runs (with re-registration) that miss one part do not make it hold."""
    real = hotplug_checks.open_run

    def altered_run(strategy: Any, *args: Any, **kw: Any) -> Any:
        result = real(strategy, *args, **kw)
        return _Altered(result, **altered) if strategy.reregister else result

    monkeypatch.setattr(hotplug_checks, "open_run", altered_run)
    v = check(CLAIM)
    name = next(iter(altered))
    metric = {"notify_migrations": "migrations", "loss_window_s": "loss_window_s"}[name]
    assert all(v.numbers[key(metric, d)] == altered[name] for d in DESIGNS)
    assert v.verdict == "depends", why
