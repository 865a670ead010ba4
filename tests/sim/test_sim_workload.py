"""tdxlib.sim.workload: the open and closed workloads, the driver's lock and its single shared buffer."""

from __future__ import annotations

import pytest

from tdxlib.sim import Scenario, run
from tdxlib.tdx.strategies import Polling, SystemVector


def test_duration_cuts_an_open_workload():
    sc = Scenario(
        cpus=4,
        strategy=SystemVector(),
        vmm="random-vcpu",
        workload="open",
        rate_per_s=20,
        quotes=None,
        duration_s=3.0,
        seed=2,
    )
    r = run(sc)
    assert r.metrics.duration_s == pytest.approx(3.0)
    assert r.quotes["issued_s"].max() < 3.0
    assert r.metrics.unfinished == (r.quotes["outcome"] == "unfinished").sum() > 0


def test_a_closed_loop_issues_one_request_at_a_time():
    r = run(Scenario(cpus=4, strategy=Polling(), vmm="qemu-10.1", quotes=6, think_ms=50, seed=1))
    q = r.quotes
    assert len(q) == 6 and (q["requester"] == 0).all()
    assert (q["issued_s"].iloc[1:].to_numpy() >= q["returned_s"].iloc[:-1].to_numpy() + 0.05 - 1e-9).all()


def test_an_abandoned_request_keeps_the_shared_buffer_busy():
    """Polling gives up while the quote service still holds the one buffer: the next requests that
    take the driver's lock before the service answers get EBUSY, later ones are served again."""
    sc = Scenario(
        cpus=4,
        strategy=Polling(timeout_s=5.0),
        vmm="ghci-1.0",
        service_ms=20_000.0,  # longer than the poller waits
        workload="open",
        rate_per_s=0.2,
        quotes=7,
        seed=3,
    )
    r = run(sc)
    q = r.quotes.sort_values("issued_s")
    first = q.iloc[0]
    assert first["outcome"] == "timed_out"
    busy = q[q["outcome"] == "busy"]
    assert len(busy) > 0 and (busy["ret"] == "EBUSY").all()
    free_at = first["issued_s"] + 20.0 + 0.001
    assert (busy["issued_s"] < free_at).all()
    assert q[q["issued_s"] > free_at].iloc[0]["outcome"] != "busy"  # the buffer is free again
    assert r.metrics.busy == len(busy)
