"""Checks of the polling claims: a guest must poll when the VMM only may inject, must time out when
the quote service may never answer, and polling alone is enough at the rate quotes are asked for. Each
runs on a guest kernel (default: 6.6, the timer of the 6.7 poller's era) whose HZ and msleep semantics
set how long every poll really sleeps."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from tdxlib.argument.claims.registry import Finding, check
from tdxlib.argument.claims.support import era_guest, fmt_ms, label, open_run
from tdxlib.kernel.jiffies import max_sleep_ms
from tdxlib.kernel.profile import POLLING_KERNEL
from tdxlib.sim import Scenario, run
from tdxlib.tdx.strategies import Polling, SystemVector, make_strategy
from tdxlib.tdx.vmm import VmmProfile, load_profile

__all__: list[str] = []  # checks are reached through tdxlib.argument.claims.check


@check.register("may-inject-needs-polling", reads=("hz", "msleep_extra_jiffy"))
def _may_inject(
    *,
    kernel: str = POLLING_KERNEL,
    vmm: str | VmmProfile = "never-injects",
    cpus: int = 8,
    quotes: int = 20,
    rate_per_s: float = 0.2,
    seed: int = 0,
) -> Finding:
    """Interrupt-only guest hangs on a VMM that does not inject; a polling guest completes."""
    kw: dict[str, Any] = {
        "cpus": cpus,
        "rate_per_s": rate_per_s,
        "seed": seed,
        "quotes": quotes,
        **era_guest(kernel),
    }
    mi = open_run(SystemVector(), vmm, **kw).metrics
    mp = open_run(Polling(), vmm, **kw).metrics
    mf = open_run(SystemVector(fallback=Polling()), vmm, **kw)
    numbers: dict[str, float | int] = {
        "quotes": quotes,
        "interrupt_completed": mi.completed,
        "interrupt_hung": mi.hung,
        "not_injected": mi.not_injected,
        "polling_completed": mp.completed,
        "polling_wakeups_per_quote": mp.poll_wakeups / max(1, mp.completed),
        "polling_p50_ms": mp.latency_ms.get("p50", math.nan),
        "fallback_completed": mf.metrics.completed,
    }
    if mi.completed == quotes:
        verdict = "fails"
    elif mi.hung > 0 and mp.completed == quotes:
        verdict = "holds"
    else:
        verdict = "depends"
    evidence = (
        f"On {label(vmm)} the interrupt-only guest (system vector, no timeout) completed {mi.completed} of "
        f"{quotes} quotes, {mi.hung} hang for good ({mi.notifications_injected} notifications injected); "
        f"the 1 s poller completed {mp.completed}/{quotes} (p50 {fmt_ms(numbers['polling_p50_ms'])}, "
        f"{numbers['polling_wakeups_per_quote']:.1f} wake-ups per quote), and an interrupt guest with a "
        f"polling fallback {mf.metrics.completed}/{quotes}."
    )
    flips = (
        "Fails on a VMM that must inject and does (ghci-1.5-caller, qemu-10.1): the interrupt-only guest "
        "then completes every quote. The kvm-6.16 profile never injects either, which is why merged Linux "
        "polls."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("timeout-required", reads=("hz", "msleep_extra_jiffy"))
def _timeout(
    *,
    kernel: str = POLLING_KERNEL,
    vmm: str | VmmProfile = "qgs-never-answers",
    strategy: str = "system-vector",
    cpus: int = 8,
    quotes: int = 3,
    timeout_s: float = 30.0,
    vmm_timeout_ms: float = 30000.0,
    seed: int = 0,
) -> Finding:
    """A quote service that never answers: no timeout hangs, a timeout returns."""
    kw: dict[str, Any] = {
        "cpus": cpus,
        "rate_per_s": 1.0,
        "seed": seed,
        "quotes": quotes,
        **era_guest(kernel),
    }
    none = open_run(make_strategy(strategy), vmm, **kw).metrics
    rt = open_run(make_strategy(strategy, timeout_s=timeout_s), vmm, frames=True, **kw)
    rp = open_run(Polling(), vmm, frames=True, **kw)
    profile = vmm if isinstance(vmm, VmmProfile) else load_profile(vmm)
    bounded = dataclasses.replace(profile, service_timeout_ms=vmm_timeout_ms)
    mb = open_run(make_strategy(strategy), bounded, **kw).metrics
    returned = rt.quotes[rt.quotes["outcome"] != "hung"]
    polled = rp.quotes.iloc[0] if len(rp.quotes) else None
    numbers: dict[str, float | int] = {
        "quotes": quotes,
        "hung_without_timeout": none.hung,
        "returned_with_timeout": len(returned),
        "timed_out_with_timeout": rt.metrics.timed_out,
        "max_latency_with_timeout_ms": float(returned["latency_ms"].max()) if len(returned) else math.nan,
        "polling_first_latency_ms": float(polled["latency_ms"]) if polled is not None else math.nan,
        "polling_busy": rp.metrics.busy,
        "hung_with_vmm_timeout": mb.hung,
        "failed_with_vmm_timeout": mb.failed,
    }
    if none.hung == 0:
        verdict = "fails"
    elif len(returned) == quotes:
        verdict = "holds"
    else:
        verdict = "depends"
    if polled is not None and polled["outcome"] == "timed_out":
        poller = (
            f" The merged poller gives up after {numbers['polling_first_latency_ms'] / 1000.0:.1f} s "
            f"({polled['ret']}) but leaves the shared buffer in flight, so {rp.metrics.busy} later requests "
            "get -EBUSY."
        )
    else:
        poller = f" The merged poller completed {rp.metrics.completed} of {quotes}."
    evidence = (
        f"With {label(vmm)}, {none.hung} of {quotes} interrupt-driven requests without a timeout hang for "
        f"good; with timeout_s = {timeout_s:g} {len(returned)} return ({rt.metrics.timed_out} -ETIMEDOUT, "
        f"at most {numbers['max_latency_with_timeout_ms'] / 1000.0:.1f} s).{poller}"
    )
    flips = (
        "Fails when the service always answers (e.g. qemu-10.1 with a working QGS), and the guest timeout "
        f"is redundant when the VMM bounds the service itself: with a {vmm_timeout_ms / 1000.0:g} s VMM "
        f"timeout (as QEMU 10.1 has) {mb.failed} untimed requests end failed with GET_QUOTE_ERROR and "
        f"{mb.hung} hang."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("polling-sufficient", reads=("hz", "msleep_extra_jiffy"))
def _polling(
    *,
    kernel: str = POLLING_KERNEL,
    vmm: str | VmmProfile = "qemu-10.1",
    rate_per_s: float = 1.0 / 60.0,
    quotes: int = 100,
    interval_ms: int = 1000,
    timeout_s: float = 30.0,
    hz: int | None = None,
    cpus: int = 8,
    seed: int = 0,
) -> Finding:
    """Polling(interval, timeout) against interrupt delivery: added latency, wake-ups, capacity; ``hz``
    overrides the kernel's HZ."""
    poll = Polling(interval_ms=interval_ms, timeout_s=timeout_s)
    kw: dict[str, Any] = {"cpus": cpus, "seed": seed, "quotes": quotes, "hz": hz, **era_guest(kernel)}
    clock = Scenario(**kw).guest_kernel()
    mp = open_run(poll, vmm, rate_per_s=rate_per_s, **kw).metrics
    mi = open_run(SystemVector(), vmm, rate_per_s=rate_per_s, **kw).metrics
    cap_p = run(Scenario(strategy=poll, vmm=vmm, **{**kw, "quotes": 50}), frames=False).metrics.quotes_per_s
    cap_i = run(
        Scenario(strategy=SystemVector(), vmm=vmm, **{**kw, "quotes": 50}), frames=False
    ).metrics.quotes_per_s
    sleep = max_sleep_ms(interval_ms, clock.hz, extra_jiffy=clock.extra_jiffy)
    lp, li = mp.latency_ms, mi.latency_ms
    numbers: dict[str, float | int] = {
        "completed_polling": mp.completed,
        "completed_interrupt": mi.completed,
        "min_polling_ms": lp["min"],
        "p50_polling_ms": lp["p50"],
        "p99_polling_ms": lp["p99"],
        "p50_interrupt_ms": li["p50"],
        "p99_interrupt_ms": li["p99"],
        "added_p50_ms": lp["p50"] - li["p50"],
        "added_p99_ms": lp["p99"] - li["p99"],
        "one_sleep_ms": sleep,
        "wakeups_per_quote_polling": mp.poll_wakeups / max(1, mp.completed),
        "wakeups_per_quote_interrupt": mi.interrupts_handled / max(1, mi.completed),
        "capacity_polling_per_s": cap_p,
        "capacity_interrupt_per_s": cap_i,
        "rate_per_s": rate_per_s,
    }
    if mp.completed < quotes or rate_per_s >= cap_p:
        verdict = "fails"
    elif numbers["added_p99_ms"] > sleep:
        verdict = "depends"
    else:
        verdict = "holds"
    where = "within" if numbers["added_p99_ms"] <= sleep else "beyond"
    evidence = (
        f"At {rate_per_s * 60:g} quotes a minute on {label(vmm)} ({kernel}: HZ {clock.hz}, msleep "
        f"{'+1 jiffy' if clock.extra_jiffy else 'exact'}) the {interval_ms} ms poller completed "
        f"{mp.completed}/{quotes} with p50 {fmt_ms(lp['p50'])} / p99 {fmt_ms(lp['p99'])} against "
        f"{fmt_ms(li['p50'])} / {fmt_ms(li['p99'])} by interrupt: +{fmt_ms(numbers['added_p50_ms'])} "
        f"at the median, +"
        f"{fmt_ms(numbers['added_p99_ms'])} at p99 ({where} one real sleep, {fmt_ms(sleep)} at "
        f"HZ={clock.hz}); "
        f"{numbers['wakeups_per_quote_polling']:.2f} wake-ups per quote against "
        f"{numbers['wakeups_per_quote_interrupt']:.2f} interrupts; the serialized poller's capacity is "
        f"{cap_p:.2f} quotes/s (interrupts {cap_i:.2f})."
    )
    flips = (
        f"Fails when quotes approach the poller's capacity (~{cap_p:.2f}/s: beyond it the queue behind "
        "quote_lock grows without bound) and is costly when latency matters — a fast quote service still "
        "waits a full sleep; shorter intervals cut the latency but cost wake-ups ≈ service time / interval."
    )
    return Finding(verdict, evidence, numbers, flips)
