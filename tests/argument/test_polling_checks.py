"""tdxlib.argument.claims.polling_checks: must a guest poll, time out, and is polling alone enough —
the deciding numbers (jiffies arithmetic for the sleeps) and the inputs that flip each verdict."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from claim_helpers import assert_flips, default, nums

from tdxlib.argument.claims import check, ledger

IDS = ("may-inject-needs-polling", "timeout-required", "polling-sufficient")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return ledger(ids=IDS)


def test_may_inject_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "may-inject-needs-polling")
    q = default("may-inject-needs-polling", "quotes")
    assert (n["interrupt_completed"], n["interrupt_hung"], n["not_injected"]) == (0, q, q)
    assert n["polling_completed"] == n["fallback_completed"] == q
    assert n["polling_p50_ms"] >= 1000.0


def test_timeout_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "timeout-required")
    q = default("timeout-required", "quotes")
    t_ms = default("timeout-required", "timeout_s") * 1000.0
    assert n["hung_without_timeout"] == q
    assert n["returned_with_timeout"] == n["timed_out_with_timeout"] == q
    assert t_ms <= n["max_latency_with_timeout_ms"] < t_ms + 1.0
    # 30 kernel sleeps of at least 1 s each, each at most a few jiffies longer
    assert 30_000.0 < n["polling_first_latency_ms"] < 31 * 1040.0
    assert n["polling_busy"] == q - 1
    assert (n["hung_with_vmm_timeout"], n["failed_with_vmm_timeout"]) == (0, q)


def test_polling_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "polling-sufficient")
    q = default("polling-sufficient", "quotes")
    assert n["completed_polling"] == n["completed_interrupt"] == q
    assert n["min_polling_ms"] >= 1000.0  # a 1 s poller is never faster than its first sleep
    # HZ=250: 1000 ms -> 250 jiffies + 1, rounded up in a level-1 wheel bucket (8 jiffies), + phase
    assert 1004.0 <= n["one_sleep_ms"] <= (250 + 1 + 8) * 4.0
    assert 0 < n["added_p50_ms"] <= n["one_sleep_ms"]
    assert n["added_p99_ms"] <= n["one_sleep_ms"]
    assert n["wakeups_per_quote_polling"] == pytest.approx(1.0, abs=0.1)
    assert n["capacity_polling_per_s"] < 1.0 < n["capacity_interrupt_per_s"]
    assert n["rate_per_s"] < n["capacity_polling_per_s"]


# ------------------------------------------------------------------ flips


@pytest.mark.parametrize(
    ("claim_id", "params", "verdict"),
    [
        # flip: may-inject-needs-polling — a VMM that must inject and does: the interrupt guest completes
        ("may-inject-needs-polling", {"vmm": "qemu-10.1"}, "fails"),
        # flip: timeout-required — a quote service that answers: nothing hangs without a timeout
        ("timeout-required", {"vmm": "qemu-10.1"}, "fails"),
        # flip: polling-sufficient — quotes asked faster than the serialized poller can serve them
        ("polling-sufficient", {"rate_per_s": 2.0}, "fails"),
    ],
)
def test_a_parameter_flips_the_verdict(claim_id: str, params: dict[str, Any], verdict: str) -> None:
    assert_flips(claim_id, params, verdict)


def test_a_shorter_poll_interval_costs_wakeups_and_saves_latency() -> None:
    slow = check("polling-sufficient", interval_ms=1000).numbers
    fast = check("polling-sufficient", interval_ms=100).numbers
    assert fast["added_p50_ms"] < slow["added_p50_ms"]
    assert fast["wakeups_per_quote_polling"] > slow["wakeups_per_quote_polling"]
