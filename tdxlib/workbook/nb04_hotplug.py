"""Notebook 04, hotplug: take the notify IRQ's CPU offline (and back) under a stream of quotes, find
the windows in which notifications go to a stale place, compare the strategies' re-registration. The
guest runs the thread's designs in the v8 patch's IDT on a kernel whose TDs can offline CPUs (the
``kernel`` parameter, 6.11+); on 5.19 + v8 itself no CPU can go offline and the runs say so."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from tdxlib.argument.evidence import notify_cpu
from tdxlib.sim import Result, Scenario
from tdxlib.tdx.guest import DEFAULT_LAYOUT
from tdxlib.tdx.strategies import make_strategy
from tdxlib.workbook import figures
from tdxlib.workbook.ledgers import claims_view
from tdxlib.workbook.panel import Panel, View, make_panel
from tdxlib.workbook.params import HOTPLUG_STRATEGIES, HotplugParams
from tdxlib.workbook.simruns import metrics_cached, run_cached, scenario_key, strategy_spec

__all__ = [
    "HOTPLUG_PAIRS",
    "HOTPLUG_STRATEGIES",
    "HotplugParams",
    "HotplugRun",
    "hotplug_claims",
    "hotplug_compare",
    "hotplug_metric_key",
    "hotplug_metrics",
    "hotplug_panel",
    "hotplug_run",
    "hotplug_view",
    "loss_windows",
]

#: Each placed strategy with the VMM profile it was designed for.
HOTPLUG_PAIRS: tuple[tuple[str, str], ...] = (
    ("system-vector", "ghci-1.0"),
    ("dynamic-apic", "apic-id-arg"),
    ("caller-vcpu", "qemu-10.1"),
)

#: Event kinds of the hotplug timeline.
HOTPLUG_KINDS = (
    "setup_notify",
    "quote_issue",
    "inject",
    "irq_handled",
    "spurious",
    "misdirected",
    "dropped_offline",
    "pending",
    "cpu_offline",
    "cpu_online",
    "notify_migrate",
    "reregister",
    "quote_done",
)


@dataclass(frozen=True, eq=False)
class HotplugRun:
    """One hotplug run: the result, the timeline events, the loss windows and the key numbers."""

    scenario: Scenario
    result: Result
    events: pd.DataFrame
    windows: pd.DataFrame
    metrics: dict[str, Any]


def _strategy(p: HotplugParams) -> dict[str, Any]:
    """The run's strategy spec, with the re-registration settings where the strategy can re-register."""
    if make_strategy(p.strategy).can_reregister:
        return strategy_spec(p.strategy, reregister=p.reregister, reregister_delay_ms=p.reregister_delay_ms)
    return strategy_spec(p.strategy)


def _offline_cpu(cpus: int, spec: dict[str, Any], vmm: str, seed: int) -> int:
    """The CPU this notebook takes offline: the notify IRQ's (``evidence.notify_cpu``), or CPU 1 when
    the mechanism has none (a system vector, polling) or it is the BSP, which cannot go offline."""
    cpu = notify_cpu(make_strategy(**spec), vmm, cpus, seed=seed)
    return 1 if cpu is None or cpu == 0 else cpu


def loss_windows(events: pd.DataFrame) -> pd.DataFrame:
    """Intervals where the VMM targets a stale place: the notify IRQ is away from the (APIC ID, vector)
    it had at its last successful SetupEventNotifyInterrupt.

    A window opens at a ``notify_migrate`` away from that place and closes at a successful
    re-registration, or at a ``notify_migrate`` that brings the IRQ back to it (periodic hotplug of
    the notify CPU without re-registration bounces it between two CPUs). The lengths sum to
    ``Metrics.loss_window_s``. Needs the event columns kind, time_s, apic_id, vector and detail.
    """
    rows = []
    end = float(events["time_s"].max()) if len(events) else 0.0
    kinds = events["kind"].astype(str).tolist()
    times = events["time_s"].to_numpy(dtype=float).tolist()
    apics = events["apic_id"].tolist()
    vectors = events["vector"].tolist()
    details = events["detail"].astype(str).tolist()
    place: tuple[int, int] | None = None  # where the notify IRQ is now
    registered: tuple[int, int] | None = None  # where it was at the last successful registration
    open_at: float | None = None
    for i, kind in enumerate(kinds):
        if kind == "request_irq":
            place = (int(apics[i]), int(vectors[i]))
        elif kind in ("setup_notify", "reregister"):
            if place is None or not details[i].startswith(_SETUP_OK):
                continue
            registered = place
            if open_at is not None:
                rows.append({"start_s": open_at, "end_s": times[i], "closed": True})
                open_at = None
        elif kind == "notify_migrate":
            place = (int(apics[i]), int(vectors[i]))
            if registered is None:
                continue
            if place == registered and open_at is not None:
                rows.append({"start_s": open_at, "end_s": times[i], "closed": True})
                open_at = None
            elif place != registered and open_at is None:
                open_at = times[i]
    if open_at is not None:
        rows.append({"start_s": open_at, "end_s": end, "closed": False})
    df = pd.DataFrame(rows, columns=["start_s", "end_s", "closed"])
    df["length_ms"] = (df["end_s"] - df["start_s"]) * 1000.0
    return df


#: How a successful SetupEventNotifyInterrupt event's detail begins (``ghci.status_name(SUCCESS)``).
_SETUP_OK = "TDVMCALL_STATUS_SUCCESS"


def hotplug_run(p: HotplugParams | None = None) -> HotplugRun:
    """Take the notify IRQ's CPU offline at ``offline_at_s`` (and back at ``online_at_s``; 0: never)
    under load; ``service_ms`` 0 uses the VMM profile's service-time distribution.

    Open workload of ``rate_per_s`` quotes per second for ``duration_s``; the strategy re-registers
    (SetupEventNotifyInterrupt again) ``reregister_delay_ms`` after its IRQ migrated, if ``reregister``.
    """
    p = p or HotplugParams()
    spec = _strategy(p)
    cpu = _offline_cpu(p.cpus, spec, p.vmm, p.seed)
    plan = [(p.offline_at_s, cpu, "offline")]
    if p.online_at is not None:
        plan.append((p.online_at, cpu, "online"))
    key = scenario_key(
        kernel=p.kernel,
        layout=DEFAULT_LAYOUT,  # the designs' IDT (it has the v8 system vector); the kernel offlines
        cpus=p.cpus,
        strategy=spec,
        vmm=p.vmm,
        workload="open",
        rate_per_s=p.rate_per_s,
        duration_s=p.duration_s,
        service_ms=p.service,
        hotplug=tuple(plan),
        seed=p.seed,
    )
    result = run_cached(key)
    ev = result.events
    events = ev[ev["kind"].isin(HOTPLUG_KINDS)].copy()
    events["kind"] = events["kind"].astype(str)
    m = result.metrics
    metrics = {
        "quotes": m.quotes_issued,
        "completed": m.completed,
        "hung": m.hung,
        "lost_notifications": m.lost_notifications,
        "notify_migrations": m.notify_migrations,
        "reregistrations": m.reregistrations,
        "exposed_requests": m.exposed_requests,
        "loss_window_ms": m.loss_window_s * 1000.0,
        "offlined_cpu": cpu,
    }
    return HotplugRun(result.scenario, result, events.reset_index(drop=True), loss_windows(ev), metrics)


def hotplug_compare(
    p: HotplugParams | None = None,
    pairs: Sequence[tuple[str, str]] = HOTPLUG_PAIRS,
    delays_ms: Sequence[float | None] = (None, 1.0, 100.0, 1000.0),
) -> pd.DataFrame:
    """Each strategy with the VMM it was designed for × re-registration delay (None = never), the
    rest of the run as in ``p``; a strategy that cannot re-register runs once."""
    p = p or HotplugParams()
    rows = []
    for strat, vmm in pairs:
        s = make_strategy(strat)
        for delay in delays_ms if s.can_reregister else (None,):
            run = hotplug_run(
                p.replace(
                    strategy=strat,
                    vmm=vmm,
                    reregister=delay is not None,
                    reregister_delay_ms=1.0 if delay is None else float(delay),
                )
            )
            label = "n/a" if not s.notify_irq_migrates else ("never" if delay is None else f"{delay:g} ms")
            m = run.metrics
            rows.append(
                {
                    "strategy": strat,
                    "vmm": vmm,
                    "reregister": label,
                    **{k: m[k] for k in ("quotes", "completed", "hung", "lost_notifications")},
                    **{k: m[k] for k in ("exposed_requests", "loss_window_ms")},
                }
            )
    return pd.DataFrame(rows)


def hotplug_metric_key(run: Literal["run", "never"], name: str) -> str:
    """The recorded name of a key number of the notebook's run, or of the run that never re-registers."""
    return f"{run}_{name}"


def hotplug_metrics(run: HotplugRun, never: HotplugRun) -> dict[str, Any]:
    """Key numbers of notebook 04: every number of the run, and what the run without re-registration
    lost and left hung."""
    out = {hotplug_metric_key("run", k): v for k, v in run.metrics.items()}
    for name in ("lost_notifications", "hung"):
        out[hotplug_metric_key("never", name)] = never.metrics[name]
    return out


# --------------------------------------------------------------------------------------------------
# The notebook's view, panel and claims
# --------------------------------------------------------------------------------------------------


def _without_hotplug(p: HotplugParams) -> dict[str, int]:
    """Lost notifications and hung quotes of the same run with no CPU taken offline."""
    key = scenario_key(
        cpus=p.cpus,
        strategy=_strategy(p),
        vmm=p.vmm,
        workload="open",
        rate_per_s=p.rate_per_s,
        duration_s=p.duration_s,
        service_ms=p.service,
        hotplug=(),
        seed=p.seed,
    )
    m = metrics_cached(key)
    return {"lost_notifications": m.lost_notifications, "hung": m.hung}


def hotplug_caption(p: HotplugParams, m: Mapping[str, Any], base: Mapping[str, int]) -> str:
    """What the offline costs, apart from what the run loses without any hotplug (a VMM that never
    injects loses every notification whatever the CPUs do: that is no loss of the offline)."""
    lost = m["lost_notifications"] - base["lost_notifications"]
    hung = m["hung"] - base["hung"]
    head = f"CPU {m['offlined_cpu']} offline at {p.offline_at_s:g} s"
    if lost <= 0 and hung <= 0:
        text = f"{head}: nothing lost to the offline"
    else:
        text = (
            f"{head}: {max(lost, 0)} notifications lost and {max(hung, 0)} quotes hung by the offline "
            f"(loss window {m['loss_window_ms']:.0f} ms)"
        )
    if base["lost_notifications"] or base["hung"]:
        text += (
            f" (without any hotplug, on {p.vmm}: {base['lost_notifications']} notifications lost, "
            f"{base['hung']} quotes hung)"
        )
    return text


def hotplug_view(p: HotplugParams | None = None) -> View:
    """04: take the notify CPU offline (and back at ``online_at_s``; 0 = never) and draw the timeline."""
    p = p or HotplugParams()
    run = hotplug_run(p)
    caption = hotplug_caption(p, run.metrics, _without_hotplug(p))
    how = f"re-register after {p.reregister_delay_ms:g} ms" if p.reregister else "no re-registration"
    title = f"CPU hotplug: {p.strategy} guest ({p.kernel}) on {p.vmm} ({how})"
    return View(p, run, figures.hotplug_timeline(run.events, run.windows, title), caption)


def hotplug_panel(p: HotplugParams | None = None) -> Panel:
    """04: strategy, VMM, re-registration and hotplug times; the timeline is redrawn."""
    p = p or HotplugParams()
    names: tuple[str, ...] = ("kernel", "strategy", "vmm", "cpus", "reregister", "reregister_delay_ms")
    names = (*names, "offline_at_s", "online_at_s")
    return make_panel("CPU hotplug and the notify IRQ", p, hotplug_view, (*names, "rate_per_s", "seed"))


def hotplug_claims(p: HotplugParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The notebook's claim, re-run with its vCPUs, load, offline time, delay and seed where they differ."""
    return claims_view(
        p.NOTEBOOK,
        kernel=p.kernel,
        cpus=p.cpus,
        rate_per_s=p.rate_per_s,
        offline_at_s=p.offline_at_s,
        reregister_delay_ms=p.reregister_delay_ms,
        seed=p.seed,
    )
