"""tdxlib.sim.events: the tidy event frame, and a metrics-only run's empty record."""

from __future__ import annotations

import pandas as pd
import simpy

from tdxlib.sim import EVENT_KINDS, run
from tdxlib.sim.events import EventLog, NoEventLog


def test_event_frame_is_tidy(hotplug_scenario):
    ev = run(hotplug_scenario).events
    assert list(ev.columns) == ["time_s", "kind", "quote_id", "cpu", "apic_id", "vector", "detail"]
    assert isinstance(ev["kind"].dtype, pd.CategoricalDtype)
    assert list(ev["kind"].cat.categories) == list(EVENT_KINDS)
    assert str(ev["quote_id"].dtype) == "Int64" and str(ev["vector"].dtype) == "Int64"
    assert ev["time_s"].is_monotonic_increasing
    issued = ev[ev["kind"] == "quote_issue"]
    assert issued["quote_id"].tolist() == list(range(len(issued)))


def test_the_log_records_at_simulated_time():
    env = simpy.Environment()
    log = EventLog(env)
    log.record("boot", cpu=0, detail="up")
    env.run(until=2.5)
    log.record("inject", quote_id=3, cpu=1, apic_id=2, vector=0xEC)
    ev = log.frame()
    assert ev["time_s"].tolist() == [0.0, 2.5]
    assert ev["kind"].tolist() == ["boot", "inject"]
    assert ev["quote_id"].isna().tolist() == [True, False] and int(ev["vector"].iloc[1]) == 0xEC
    NoEventLog().record("boot", cpu=0)  # keeps nothing, accepts the same call
