"""Notebook 05, polling: the guest kernel profile it runs on, how long msleep() really sleeps, quote
latency and wake-ups against the poll interval per HZ with interrupts as the reference (HZ 250 and
1000 side by side), guests facing a VMM that never answers, and the interactive latency chart.

Every run is the kernel profile's (its msleep semantics) in the v8 patch's IDT (the interrupt
reference is the v8 system vector); ``hz_values`` override the profile's HZ."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from tdxlib.cache import memo
from tdxlib.errors import ValidationError
from tdxlib.kernel.jiffies import max_sleep_ms, min_sleep_ms
from tdxlib.kernel.profile import load_kernel
from tdxlib.sim import Metrics
from tdxlib.tdx.guest import DEFAULT_LAYOUT
from tdxlib.workbook import figures
from tdxlib.workbook.ledgers import claims_view
from tdxlib.workbook.panel import Panel, View, make_panel
from tdxlib.workbook.params import HZ_CHOICES, POLL_INTERVALS, PollingParams
from tdxlib.workbook.simruns import ScenarioKey, metrics_cached, metrics_of, scenario_key, strategy_spec

__all__ = [
    "HZ_CHOICES",
    "POLL_INTERVALS",
    "STUCK_GUESTS",
    "PollingParams",
    "hz_side_by_side",
    "interrupt_reference",
    "kernel_header",
    "poll_metric_key",
    "polling_claims",
    "polling_cost",
    "polling_metrics",
    "polling_panel",
    "polling_sweep",
    "polling_view",
    "sleep_table",
    "stuck_frame",
]


def sleep_table(
    intervals_ms: Sequence[int] = (1, 5, 1000), hz_values: Sequence[int] = (100, 250, 1000)
) -> pd.DataFrame:
    """How long ``msleep_interruptible(ms)`` really sleeps at each HZ (before Linux 6.12, with the extra
    jiffy, and since: ``_6_12`` columns)."""
    rows = []
    for ms in intervals_ms:
        for hz in hz_values:
            rows.append(
                {
                    "poll_ms": int(ms),
                    "hz": int(hz),
                    "sleep_min_ms": min_sleep_ms(int(ms), int(hz)),
                    "sleep_max_ms": max_sleep_ms(int(ms), int(hz)),
                    "sleep_min_ms_6_12": min_sleep_ms(int(ms), int(hz), extra_jiffy=False),
                    "sleep_max_ms_6_12": max_sleep_ms(int(ms), int(hz), extra_jiffy=False),
                }
            )
    return pd.DataFrame(rows)


def _latency_row(m: Metrics) -> dict[str, Any]:
    done = max(m.completed, 1)
    lat = m.latency_ms
    return {
        "quotes": m.quotes_issued,
        "completed": m.completed,
        "timed_out": m.timed_out,
        "failed": m.failed,
        "latency_p50_ms": lat.get("p50", math.nan),
        "latency_p99_ms": lat.get("p99", math.nan),
        "latency_mean_ms": m.latency_mean_ms,
        "wakeups": m.wakeups,
        "wakeups_per_quote": m.wakeups / done,
        "wasted_wakeups_per_quote": max(0, m.wakeups - m.completed) / done,
    }


@memo(maxsize=4096)
def _latency(key: ScenarioKey) -> tuple[tuple[str, Any], ...]:
    """One run's latency row, frozen (callers share it safely): a redraw re-reads the whole sweep."""
    return tuple(_latency_row(metrics_of(key)).items())


def polling_sweep(
    intervals_ms: Sequence[int] = (1, 5, 10, 50, 100, 250, 1000),
    hz_values: Sequence[int] = (100, 250, 1000),
    *,
    kernel: str = PollingParams().kernel,
    vmm: str = "qemu-10.1",
    quotes: int = 50,
    seed: int = 0,
    service_ms: float | None = None,
    extra_jiffy: bool | None = None,
    timeout_s: float = 30.0,
    cpus: int = 2,
) -> pd.DataFrame:
    """Poll interval × HZ on ``kernel``: quote latency and wake-ups (closed loop, the merged driver's
    one-at-a-time); ``extra_jiffy`` overrides the kernel's msleep (None: the kernel's)."""
    rows = []
    for hz in hz_values:
        for iv in intervals_ms:
            spec = strategy_spec("polling", interval_ms=int(iv), timeout_s=float(timeout_s))
            key = scenario_key(
                kernel=kernel,
                layout=DEFAULT_LAYOUT,
                cpus=cpus,
                strategy=spec,
                vmm=vmm,
                hz=int(hz),
                extra_jiffy=extra_jiffy,
                quotes=quotes,
                seed=seed,
                service_ms=service_ms,
            )
            row = dict(_latency(key))
            rows.append({"poll_ms": int(iv), "hz": int(hz), "series": f"poll, HZ={hz}", **row})
    return pd.DataFrame(rows)


def interrupt_reference(
    strategies: Sequence[str] = ("system-vector", "caller-vcpu"),
    *,
    kernel: str = PollingParams().kernel,
    vmm: str = "qemu-10.1",
    quotes: int = 50,
    seed: int = 0,
    service_ms: float | None = None,
    cpus: int = 2,
) -> pd.DataFrame:
    """The same requests notified by interrupt: the latency and wake-ups polling is measured against."""
    rows = []
    for strat in strategies:
        key = scenario_key(
            kernel=kernel,
            layout=DEFAULT_LAYOUT,
            cpus=cpus,
            strategy=strategy_spec(strat),
            vmm=vmm,
            quotes=quotes,
            seed=seed,
            service_ms=service_ms,
        )
        rows.append({"series": f"interrupt ({strat})", "strategy": strat, **dict(_latency(key))})
    return pd.DataFrame(rows)


def poll_metric_key(interval_ms: int, hz: int, column: str) -> str:
    """The recorded name of one sweep number: ``column`` polling every ``interval_ms`` at ``hz``."""
    return f"poll_{interval_ms}ms_hz{hz}_{column}"


def polling_metrics(
    sweep: pd.DataFrame, reference: pd.DataFrame, intervals_ms: Iterable[int] = (1, 5, 1000)
) -> dict[str, Any]:
    """Key numbers of notebook 05: mean latency and wasted wake-ups per interval × HZ, and interrupts."""
    out: dict[str, Any] = {}
    key = sweep.set_index(["poll_ms", "hz"])
    for ms in intervals_ms:
        for hz in sorted(set(sweep["hz"])):
            if (ms, hz) not in key.index:
                continue
            row = key.loc[(ms, hz)]
            for col in ("latency_mean_ms", "wasted_wakeups_per_quote"):
                value = float(row[col])
                if math.isfinite(value):
                    out[poll_metric_key(ms, hz, col)] = value
    reached = reference[reference["completed"] > 0]
    if len(reached):
        out["interrupt_latency_mean_ms"] = float(reached["latency_mean_ms"].min())
    return out


#: Guests compared when the VMM never signals: (label, strategy spec).
STUCK_GUESTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("interrupt only (v8)", {"name": "system-vector"}),
    ("interrupt + 30 s timeout", {"name": "system-vector", "timeout_s": 30.0}),
    ("interrupt + polling fallback", {"name": "system-vector", "fallback": {"name": "polling"}}),
    ("polling 1 s × 30 (6.7)", {"name": "polling"}),
)


def stuck_frame(
    vmms: Sequence[str] = ("never-injects", "qgs-never-answers"),
    quotes: int = 3,
    seed: int = 0,
    kernel: str = PollingParams().kernel,
) -> pd.DataFrame:
    """Guest designs × a VMM that never injects / a quote service that never answers: who returns?"""
    rows = []
    for vmm in vmms:
        for label, spec in STUCK_GUESTS:
            key = scenario_key(
                kernel=kernel, layout=DEFAULT_LAYOUT, cpus=2, strategy=spec, vmm=vmm, quotes=quotes, seed=seed
            )
            m = metrics_cached(key)
            rows.append(
                {
                    "vmm": vmm,
                    "guest": label,
                    "quotes": m.quotes_issued,
                    "completed": m.completed,
                    "timed_out": m.timed_out,
                    "busy": m.busy,
                    "failed": m.failed,
                    "hung": m.hung,
                    "sim_time_s": round(m.duration_s, 3),
                }
            )
    return pd.DataFrame(rows)


def polling_cost(sweep: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Per poll interval × HZ: extra latency and wasted wake-ups against the best interrupt strategy
    (named in ``attrs["reference"]``)."""
    done = reference[reference["completed"] > 0]
    if done.empty:
        raise ValidationError("reference", "no completed quotes", "an injecting VMM profile")
    best = done.sort_values("latency_mean_ms").iloc[0]
    out = sweep[["poll_ms", "hz", "latency_p50_ms", "latency_mean_ms"]].copy()
    out["extra_p50_ms"] = out["latency_p50_ms"] - float(best["latency_p50_ms"])
    out["extra_mean_ms"] = out["latency_mean_ms"] - float(best["latency_mean_ms"])
    out["wakeups_per_quote"] = sweep["wakeups_per_quote"]
    out["wasted_wakeups_per_quote"] = sweep["wasted_wakeups_per_quote"]
    out.attrs["reference"] = str(best["series"])
    return out.reset_index(drop=True)


def kernel_header(p: PollingParams) -> str:
    """The notebook's header line (Markdown): the kernel profile, the facts polling depends on with how
    sure they are, and the HZ values swept instead of the profile's."""
    k = load_kernel(p.kernel)
    hz, jiffy, drv = k.hz, k.msleep_extra_jiffy, k.quote_driver
    msleep = "adds the historical extra jiffy" if jiffy.value else "sleeps without the extra jiffy (6.12+)"
    driver = (
        f"{(drv.buf_size or 0) // 1024} KiB buffer, {drv.poll_ms} ms polls, {drv.timeout_s or 0:g} s timeout"
        if drv.value == "polling"
        else f"{drv.value} (the poller modelled is the 6.7 driver's)"
    )
    swept = ", ".join(str(h) for h in p.hz_values)
    return (
        f"**Guest kernel profile: `{k.name}`** — {k.title}. HZ {hz.value} ({hz.status}); msleep() {msleep} "
        f"({jiffy.status}); GetQuote driver: {driver} ({drv.status}). The runs below sweep HZ over {swept} "
        "with this kernel's msleep(); the interrupt reference is the v8 system vector."
    )


def _polling_and_reference(p: PollingParams, hz_values: Sequence[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The polling sweep of ``p`` at ``hz_values`` and its interrupt-delivery reference."""
    sweep = polling_sweep(
        list(p.poll_intervals_ms),
        list(hz_values),
        kernel=p.kernel,
        vmm=p.vmm,
        quotes=p.quotes,
        seed=p.seed,
        service_ms=p.service,
    )
    ref = interrupt_reference(kernel=p.kernel, vmm=p.vmm, quotes=p.quotes, seed=p.seed, service_ms=p.service)
    return sweep, ref


def hz_side_by_side(p: PollingParams | None = None, hz_pair: Sequence[int] = (250, 1000)) -> pd.DataFrame:
    """The polling trade-off at two HZ side by side (default 250, the Kconfig default, and 1000, what
    RHEL and SUSE build): per poll interval the mean latency, its excess over the best interrupt
    delivery, and the wasted wake-ups per quote, one column group per HZ."""
    sweep, ref = _polling_and_reference(p or PollingParams(), hz_pair)
    done = ref[ref["completed"] > 0]
    best = float(done["latency_mean_ms"].min()) if len(done) else math.nan
    sweep = sweep.assign(extra_mean_ms=sweep["latency_mean_ms"] - best)
    cols = {
        "latency_mean_ms": "mean ms",
        "extra_mean_ms": "+ms vs interrupt",
        "wasted_wakeups_per_quote": "wasted wake-ups/quote",
    }
    wide = sweep.pivot(index="poll_ms", columns="hz", values=list(cols))
    wide = wide.swaplevel(axis=1).sort_index(axis=1, level=0, sort_remaining=False)
    pairs: list[Any] = wide.columns.to_list()  # (hz, column) pairs
    wide.columns = pd.MultiIndex.from_tuples([(f"HZ {pair[0]}", cols[str(pair[1])]) for pair in pairs])
    ordered = [(f"HZ {hz}", c) for hz in hz_pair for c in cols.values()]
    return wide[ordered]


# --------------------------------------------------------------------------------------------------
# The notebook's view, panel and claims
# --------------------------------------------------------------------------------------------------


def polling_view(p: PollingParams | None = None) -> View:
    """05: quote latency against the poll interval per HZ, with interrupt delivery as the reference."""
    p = p or PollingParams()
    sweep, ref = _polling_and_reference(p, p.hz_values)
    ref_done = ref[ref["completed"] > 0]
    if len(ref_done):
        best = ref_done["latency_mean_ms"].min()
        f = sweep.sort_values("poll_ms").iloc[0]
        caption = (
            f"interrupts: mean {best:.0f} ms; polling every {int(f['poll_ms'])} ms at HZ={int(f['hz'])}: "
            f"mean {f['latency_mean_ms']:.0f} ms, {f['wasted_wakeups_per_quote']:.1f} wasted wake-ups/quote"
        )
    else:
        caption = f"{p.vmm} injects no interrupt: polling is the only way to learn that the quote is ready"
    title = f"Quote latency ({p.percentile}) against the poll interval, {p.vmm}, {p.kernel}"
    chart = figures.latency_chart(sweep, ref_done if len(ref_done) else None, title, p.percentile)
    return View(p, {"sweep": sweep, "reference": ref}, chart, caption)


def polling_panel(p: PollingParams | None = None) -> Panel:
    """05: kernel (its msleep), VMM, HZ, service time; latency against poll interval is redrawn."""
    p = p or PollingParams()
    names = ("kernel", "vmm", "hz_values", "quotes", "service_ms", "seed", "percentile")
    return make_panel("Polling: latency and wake-ups", p, polling_view, names)


def polling_claims(p: PollingParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The notebook's claims, re-run where its kernel, VMM (polling-sufficient only) and seed differ."""
    return claims_view(p.NOTEBOOK, kernel=p.kernel, vmm=p.vmm, seed=p.seed)
