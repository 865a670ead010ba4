"""Checks of the delivery claims: which notify design gets every GetQuote completion to its handler,
on which VMM, at what spec cost (system vector, one-CPU vector with or without a target, the caller
rule, the vector in GetQuote), to how many drivers, and where an early-allocated IRQ lands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tdxlib.argument.claims.registry import Finding, check, key, key_at
from tdxlib.argument.claims.support import (
    count_notified,
    era_guest,
    fmt_pct,
    label,
    offline_target,
    open_run,
    vmm_list,
)
from tdxlib.argument.evidence import (
    binomial_interval,
    binomial_z,
    count_events,
    placement_trials,
    spec_delta,
)
from tdxlib.errors import CpuOfflineUnsupported
from tdxlib.kernel.profile import HOTPLUG_KERNEL
from tdxlib.sim import Scenario, run
from tdxlib.tdx.strategies import CallerVcpu, DynamicIrq, QuoteCarriesVector, SystemVector
from tdxlib.tdx.vmm import VmmProfile

__all__: list[str] = []  # checks are reached through tdxlib.argument.claims.check


@check.register("notify-works")
def _notify_works(
    *,
    vmm: str | VmmProfile | Sequence[str | VmmProfile] = ("ghci-1.0", "random-vcpu"),
    quotes: int = 400,
    cpus: int = 8,
    rate_per_s: float = 5.0,
    seed: int = 0,
) -> Finding:
    """SystemVector on injecting VMMs: every completion must reach the handler."""
    numbers: dict[str, float | int] = {}
    parts, ok = [], True
    for v in vmm_list(vmm):
        m = open_run(SystemVector(), v, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes).metrics
        name = label(v)
        notified = count_notified(m)
        numbers |= {
            key("quotes", name): m.quotes_issued,
            key("injected", name): m.notifications_injected,
            key("lost", name): m.lost_notifications,
            key("notified", name): notified,
        }
        numbers["vectors_total"] = m.vectors_total
        ok = ok and notified == m.quotes_issued and m.lost_notifications == 0
        parts.append(f"{name} {notified}/{m.quotes_issued} ({m.lost_notifications} lost)")
    tail = (
        "so no injection target can miss it"
        if ok
        else "yet a completion the VMM does not signal reaches no handler"
    )
    evidence = (
        f"System vector on {cpus} vCPUs, completions notified: {'; '.join(parts)}; the handler is on every "
        f"CPU ({numbers['vectors_total']} vectors, 1 per CPU), {tail}."
    )
    flips = (
        "Fails on a VMM that does not inject every completion (never-injects and kvm-6.16 notify none; GHCI "
        "1.0 only says 'can'): see may-inject-needs-polling; and there is nothing to notify when the quote "
        "service never answers (timeout-required)."
    )
    return Finding("holds" if ok else "fails", evidence, numbers, flips)


@check.register("any-cpu-needs-system-vector")
def _any_cpu(
    *,
    vmm: str | VmmProfile = "random-vcpu",
    cpus: int = 8,
    quotes: int = 1000,
    call_from_target: bool = False,
    rate_per_s: float = 5.0,
    seed: int = 0,
) -> Finding:
    """A one-CPU vector on a VMM injecting anywhere loses ~(n-1)/n; the system vector loses none."""
    dyn = DynamicIrq(apic_targeting=False, call_from_target=call_from_target)
    md = open_run(dyn, vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes).metrics
    ms = open_run(SystemVector(), vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes).metrics
    n, lost = md.notifications_injected, md.lost_notifications
    p = (cpus - 1) / cpus
    lo, hi = binomial_interval(n, p)
    z = binomial_z(lost, n, p)
    frac = lost / n if n else 0.0
    numbers: dict[str, float | int] = {
        "injected_dynamic": n,
        "lost_dynamic": lost,
        "lost_fraction_dynamic": frac,
        "expected_fraction": p,
        "z": z,
        "within_4_sigma": int(lo <= lost <= hi),
        "lost_system_vector": ms.lost_notifications,
        "injected_system_vector": ms.notifications_injected,
        "vectors_total_dynamic": md.vectors_total,
        "vectors_total_system_vector": ms.vectors_total,
    }
    if n == 0:
        verdict = "depends"
        evidence = f"{label(vmm)} injected no notification at all, so no vector design can be judged here."
    else:
        verdict = "holds" if lost > 0 and ms.lost_notifications == 0 else "fails" if lost == 0 else "depends"
        evidence = (
            f"On {label(vmm)} with {cpus} vCPUs a one-CPU vector lost {lost} of {n} notifications "
            f"({fmt_pct(frac)}; binomial expectation (n-1)/n = {fmt_pct(p)}, z = {z:+.2f}), "
            f"the system vector lost "
            f"{ms.lost_notifications} of {ms.notifications_injected} — with {ms.vectors_total} vectors "
            f"instead of {md.vectors_total}."
        )
    flips = (
        "Flips when the VMM targets a known vCPU: with the caller rule (ghci-1.5-caller, qemu-10.1) and the "
        "call made from the IRQ's CPU (call_from_target=True), or an APIC-ID argument, the one-CPU vector "
        "loses nothing (apic-id-enables-dynamic, caller-vcpu-rule-suffices)."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("apic-id-enables-dynamic")
def _apic_id(
    *,
    vmm: str | VmmProfile = "apic-id-arg",
    baseline_vmm: str | VmmProfile = "ghci-1.0",
    cpus: int = 8,
    quotes: int = 400,
    rate_per_s: float = 5.0,
    seed: int = 0,
) -> Finding:
    """DynamicIrq(apic_targeting=True) on a VMM honouring the APIC-ID argument loses nothing."""
    strat = DynamicIrq(apic_targeting=True)
    m = open_run(strat, vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes).metrics
    mb = open_run(strat, baseline_vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes).metrics
    delta = spec_delta(strat, cpus=cpus)
    base_frac = mb.lost_notifications / mb.notifications_injected if mb.notifications_injected else 0.0
    numbers: dict[str, float | int] = {
        "quotes": m.quotes_issued,
        "injected": m.notifications_injected,
        "lost": m.lost_notifications,
        "vectors_total": m.vectors_total,
        "new_arguments": delta.n_new_arguments,
        "new_leaves": delta.n_new_leaves,
        "lost_fraction_baseline": base_frac,
    }
    ok = m.lost_notifications == 0 and m.notifications_injected == m.quotes_issued > 0
    evidence = (
        f"With the APIC ID in SetupEventNotifyInterrupt ({label(vmm)}) a pinned one-CPU vector got "
        f"{count_notified(m)}/{m.quotes_issued} notifications ({m.lost_notifications} lost) with "
        f"{m.vectors_total} vector in total; it needs {delta.n_new_arguments} new argument "
        f"({', '.join(delta.new_arguments) or 'none'}) and {delta.n_new_leaves} new leaves. On the spec as "
        f"written ({label(baseline_vmm)}) the same guest lost {fmt_pct(base_frac)}."
    )
    flips = (
        "Depends on the spec adding the APIC-ID argument, which it never did (the 2022 outcome was the "
        "caller rule): a VMM ignoring it loses ~(n-1)/n of the notifications; taking the target CPU offline "
        "needs re-registration (hotplug-needs-reregistration)."
    )
    return Finding("holds" if ok else "fails", evidence, numbers, flips)


@check.register("caller-vcpu-rule-suffices", reads=("cpu_offline",))
def _caller_rule(
    *,
    kernel: str = HOTPLUG_KERNEL,
    vmm: str | VmmProfile | Sequence[str | VmmProfile] = ("ghci-1.5-caller", "qemu-10.1"),
    cpus: int = 8,
    quotes: int = 400,
    rate_per_s: float = 5.0,
    hotplug: bool = False,
    reregister: bool = True,
    offline_at_s: float = 10.0,
    seed: int = 0,
) -> Finding:
    """CallerVcpu: no loss, one vector, no new argument; hotplug without re-registration breaks it (a
    caveat that is moot on a kernel whose TDs cannot offline CPUs; ``hotplug=True`` there is moot)."""
    strat = CallerVcpu(reregister=reregister)
    guest = era_guest(kernel)
    delta = spec_delta(strat, cpus=cpus)
    numbers: dict[str, float | int] = {
        "new_arguments": delta.n_new_arguments,
        "new_leaves": delta.n_new_leaves,
    }
    ok = delta.n_new_arguments == 0 and delta.n_new_leaves == 0
    parts = []
    vmms = vmm_list(vmm)
    for v in vmms:
        kw: dict[str, Any] = {}
        if hotplug:
            kw["hotplug"] = ((offline_at_s, offline_target(strat, v, cpus), "offline"),)
        m = open_run(
            strat, v, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes, **kw, **guest
        ).metrics
        name = label(v)
        numbers |= {
            key("injected", name): m.notifications_injected,
            key("lost", name): m.lost_notifications,
            key("vectors_total", name): m.vectors_total,
        }
        ok = ok and m.lost_notifications == 0 and m.notifications_injected == m.quotes_issued > 0
        ok = ok and m.vectors_total == 1
        parts.append(f"{name} {count_notified(m)}/{m.quotes_issued} notified, {m.vectors_total} vector")
    evidence = (
        f"One IRQ on one CPU, SetupEventNotifyInterrupt called from that CPU with no APIC argument"
        f"{' (target CPU offlined at ' + format(offline_at_s, 'g') + ' s)' if hotplug else ''}: "
        f"{'; '.join(parts)}; {delta.n_new_arguments} new arguments, {delta.n_new_leaves} new leaves."
    )
    caveat = _hotplug_caveat(vmms[0], kernel, cpus, rate_per_s, seed, quotes, offline_at_s, numbers)
    flips = (
        f"{caveat}; it also needs the VMM to record the caller at call time (QEMU does) — a VMM injecting "
        "elsewhere loses ~(n-1)/n."
    )
    moot = "its hotplug caveat" if caveat.startswith("Its hotplug caveat is moot") else ""
    return Finding("holds" if ok else "fails", evidence, numbers, flips, moot)


def _hotplug_caveat(
    vmm: str | VmmProfile,
    kernel: str,
    cpus: int,
    rate_per_s: float,
    seed: int,
    quotes: int,
    offline_at_s: float,
    numbers: dict[str, float | int],
) -> str:
    """What hotplug without re-registration does to the caller rule on ``kernel`` (moot where no CPU
    can go offline); adds its numbers to ``numbers``."""
    bad = CallerVcpu(reregister=False)
    hp = ((offline_at_s, offline_target(bad, vmm, cpus), "offline"),)
    try:
        r = open_run(
            bad,
            vmm,
            cpus=cpus,
            rate_per_s=rate_per_s,
            seed=seed,
            quotes=quotes,
            hotplug=hp,
            frames=True,
            **era_guest(kernel),
        )
    except CpuOfflineUnsupported as exc:
        return f"Its hotplug caveat is moot on {kernel}: no CPU can go offline in its TDs ({exc.reason})"
    later = count_events(r.events, "inject", after=offline_at_s)
    numbers |= {"lost_hotplug_no_reregister": r.metrics.lost_notifications, "injected_after_offline": later}
    return (
        f"Flips under CPU hotplug without re-registration (on {kernel}): offlining the IRQ's CPU at "
        f"{offline_at_s:g} s lost {r.metrics.lost_notifications} of the {later} notifications injected "
        "after it"
    )


@check.register("removal-fan-out")
def _fan_out(
    *,
    drivers: Sequence[int] = (1, 2, 4, 8),
    vmm: str | VmmProfile = "ghci-1.0",
    cpus: int = 8,
    quotes: int = 50,
    rate_per_s: float = 5.0,
    seed: int = 0,
) -> Finding:
    """k registered drivers on the shared vector: callbacks per notification, list vs v8's one pointer."""
    numbers: dict[str, float | int] = {}
    linear = single = True
    displaced_all = False
    for k in drivers:
        ml = open_run(
            SystemVector(drivers=k), vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes
        ).metrics
        mp = open_run(
            SystemVector(drivers=k, callback_list=False),
            vmm,
            cpus=cpus,
            rate_per_s=rate_per_s,
            seed=seed,
            quotes=quotes,
        ).metrics
        per_list = ml.fanout_callbacks / max(1, ml.interrupts_handled)
        per_ptr = mp.fanout_callbacks / max(1, mp.interrupts_handled)
        numbers |= {
            key_at("callbacks_per_notification_list", k): per_list,
            key_at("callbacks_per_notification_v8", k): per_ptr,
            key_at("quote_notified_list", k): count_notified(ml),
            key_at("quote_notified_v8", k): count_notified(mp),
            key_at("displaced_v8", k): mp.displaced_callbacks,
        }
        linear = linear and per_list == k and count_notified(ml) == quotes
        single = single and per_ptr == 1
        if k >= 2 and count_notified(mp) == 0:
            displaced_all = True
    ks = list(drivers)
    shared = any(k >= 2 for k in ks)  # with one driver a list and v8's single pointer do the same
    if linear and (not single or not shared):
        verdict = "holds"
    elif linear:
        verdict = "depends"
    else:
        verdict = "fails"
    if not shared:
        v8_tail = "the same with a single driver"
    elif displaced_all:
        v8_tail = (
            f"with k >= 2 the last driver to register displaces the quote driver, which then gets 0 of "
            f"{quotes} notifications"
        )
    else:
        v8_tail = "with k >= 2 the quote driver still gets them"
    per_k = {
        design: ", ".join(format(numbers[key_at(f"callbacks_per_notification_{design}", k)], "g") for k in ks)
        for design in ("list", "v8")
    }
    evidence = (
        f"With a callback list every notification runs k callbacks "
        f"({per_k['list']} for k = "
        f"{', '.join(map(str, ks))}: linear), so every driver sees it; v8 kept one handler pointer: "
        f"{per_k['v8']} callback per "
        f"notification — {v8_tail}."
    )
    flips = (
        "Holds for a design with a callback list (the 2023 series kept a spinlocked list); for the v8 code "
        "it holds only with a single registered driver — the attestation driver, v8's only user."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("getquote-carries-vector", reads=("cpu_offline",))
def _quote_carries(
    *,
    kernel: str = HOTPLUG_KERNEL,
    with_apic: bool = True,
    cpus: int = 8,
    rate_per_s: float = 10.0,
    duration_s: float = 60.0,
    hotplug_every_s: float = 5.0,
    reregister_delay_ms: float = 1.0,
    seed: int = 1,
) -> Finding:
    """GetQuote names the vector: spec delta, and losses under hotplug against registered designs."""
    qcv = QuoteCarriesVector(with_apic=with_apic)
    delta = spec_delta(qcv, cpus=cpus)
    kw: dict[str, Any] = {
        "cpus": cpus,
        "rate_per_s": rate_per_s,
        "seed": seed,
        "duration_s": duration_s,
        "hotplug_every_s": hotplug_every_s,
        "hotplug_cpus": "notify",
        **era_guest(kernel),
    }
    try:
        mq = open_run(qcv, "getquote-carries-vector", **kw).metrics
    except CpuOfflineUnsupported as exc:
        return _quote_carries_without_hotplug(delta, with_apic, kernel, exc.reason)
    mr = open_run(CallerVcpu(reregister_delay_ms=reregister_delay_ms), "ghci-1.5-caller", **kw).metrics
    mn = open_run(CallerVcpu(reregister=False), "ghci-1.5-caller", **kw).metrics
    numbers: dict[str, float | int] = {
        "new_leaves": delta.n_new_leaves,
        "new_arguments": delta.n_new_arguments,
        "setup_calls": mq.setup_calls,
        "migrations": mq.notify_migrations,
        "exposed_requests": mq.exposed_requests,
        "injected": mq.notifications_injected,
        "lost": mq.lost_notifications,
        "lost_caller_reregister": mr.lost_notifications,
        "loss_window_s_caller_reregister": mr.loss_window_s,
        "lost_caller_no_reregister": mn.lost_notifications,
        "loss_window_s_caller_no_reregister": mn.loss_window_s,
    }
    if delta.n_new_leaves > 0:
        verdict = "fails"
    elif mq.lost_notifications <= mq.exposed_requests:
        verdict = "holds"
    else:
        verdict = "depends"
    evidence = (
        f"GetQuote carrying the vector{' and APIC ID' if with_apic else ''} needs {delta.n_new_leaves} new "
        f"TDVMCALLs and {mq.setup_calls} SetupEventNotifyInterrupt calls, but {delta.n_new_arguments} new "
        f"GetQuote arguments ({', '.join(delta.new_arguments)}). Under {mq.notify_migrations} migrations in "
        f"{duration_s:g} s it lost {mq.lost_notifications} of {mq.notifications_injected} notifications, "
        f"{mq.exposed_requests} requests being in flight when the IRQ moved; the caller rule lost "
        f"{mr.lost_notifications} re-registering after {reregister_delay_ms:g} ms and "
        f"{mn.lost_notifications} without re-registering."
    )
    flips = (
        "'No new TDVMCALL' is not 'no spec change': GetQuote gains 1-2 arguments; with the vector alone "
        "(with_apic=False) the VMM must inject into the GetQuote caller and the request come from the IRQ's "
        "CPU, else ~(n-1)/n are lost; it serves attestation only (no generic events such as device removal), "
        "and a design that re-registers promptly loses fewer in-flight requests."
    )
    return Finding(verdict, evidence, numbers, flips)


def _quote_carries_without_hotplug(delta: Any, with_apic: bool, kernel: str, reason: str) -> Finding:
    """The spec delta alone: on a kernel that cannot offline CPUs nothing migrates, so nothing is lost."""
    numbers: dict[str, float | int] = {
        "new_leaves": delta.n_new_leaves,
        "new_arguments": delta.n_new_arguments,
    }
    verdict = "fails" if delta.n_new_leaves > 0 else "holds"
    evidence = (
        f"GetQuote carrying the vector{' and APIC ID' if with_apic else ''} needs {delta.n_new_leaves} new "
        f"TDVMCALLs but {delta.n_new_arguments} new GetQuote arguments ({', '.join(delta.new_arguments)}); "
        f"the comparison under CPU hotplug is moot on {kernel}: no CPU can go offline in its TDs ({reason})."
    )
    flips = "'No new TDVMCALL' is not 'no spec change': GetQuote gains 1-2 arguments."
    return Finding(verdict, evidence, numbers, flips, "its hotplug comparison")


@check.register("early-init-lands-on-cpu0")
def _early_init(
    *, trials: int = 40, min_cpus: int = 2, max_cpus: int = 64, sim_cpus: int = 8, seed: int = 0
) -> Finding:
    """An IRQ requested before SMP bring-up can only land on CPU 0; after it, on the best CPU."""
    pt = placement_trials(trials, min_cpus=min_cpus, max_cpus=max_cpus, seed=seed)
    early_sim = run(
        Scenario(cpus=sim_cpus, strategy=CallerVcpu(early=True), vmm="ghci-1.5-caller", quotes=0),
        frames=False,
    ).metrics.notify_setup_cpu
    late_sim = run(
        Scenario(cpus=sim_cpus, strategy=CallerVcpu(), vmm="ghci-1.5-caller", quotes=0), frames=False
    ).metrics
    numbers: dict[str, float | int] = {
        "trials": pt.trials,
        "early_on_cpu0": sum(c == 0 for c in pt.early_cpus),
        "late_on_best_cpu": sum(c == b for c, b in zip(pt.late_cpus, pt.late_best, strict=True)),
        "late_on_cpu0": sum(c == 0 for c in pt.late_cpus),
        "max_early_load": max(pt.early_load),
        "sim_early_cpu": -1 if early_sim is None else early_sim,
        "sim_late_cpu": -1 if late_sim.notify_setup_cpu is None else late_sim.notify_setup_cpu,
    }
    verdict = "holds" if numbers["early_on_cpu0"] == pt.trials else "fails"
    evidence = (
        f"In {pt.trials} random guests ({min(pt.ncpus)}-{max(pt.ncpus)} vCPUs, up to {max(pt.early_load)} "
        f"device IRQs already on CPU 0) the IRQ requested with only CPU 0 online landed on CPU 0 "
        f"{numbers['early_on_cpu0']}/{pt.trials} times; requested after bring-up it landed on the CPU with "
        f"the most free vectors {numbers['late_on_best_cpu']}/{pt.trials} times (on CPU 0: "
        f"{numbers['late_on_cpu0']}). Simulated guest: CPU {numbers['sim_early_cpu']} early, CPU "
        f"{numbers['sim_late_cpu']} late."
    )
    flips = (
        "Only the allocation time matters: a late initcall (after SMP bring-up) or an explicit mask moves "
        "it. Landing on CPU 0 is not itself a failure — the caller rule works from CPU 0, and the BSP "
        "cannot go offline (x86, 6.3+), so it never needs re-registration — but it is not the choice the "
        "code implies."
    )
    return Finding(verdict, evidence, numbers, flips)
