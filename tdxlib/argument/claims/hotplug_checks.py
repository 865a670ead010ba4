"""Check of the hotplug claim: taking the notify IRQ's CPU offline migrates it even with
IRQF_NOBALANCING, so a targeted design loses notifications until it registers again — for a window
with re-registration, for good without. It needs a kernel whose TDs can take a CPU offline (6.11+ with
a version-1 MADT wakeup mailbox); on 5.19 + v8 the claim is moot."""

from __future__ import annotations

import dataclasses
from typing import Any

from tdxlib.argument.claims.registry import Finding, check, key, key_by
from tdxlib.argument.claims.support import era_guest, offline_target, open_run
from tdxlib.argument.evidence import count_events, nobalancing_migration
from tdxlib.kernel.profile import HOTPLUG_KERNEL
from tdxlib.tdx.strategies import DynamicIrq, make_strategy

__all__: list[str] = []  # checks are reached through tdxlib.argument.claims.check


@check.register("hotplug-needs-reregistration", reads=("cpu_offline",))
def _hotplug(
    *,
    kernel: str = HOTPLUG_KERNEL,
    cpus: int = 8,
    rate_per_s: float = 10.0,
    durations: tuple[float, float] = (30.0, 60.0),
    offline_at_s: float = 5.0,
    reregister_delay_ms: float = 500.0,
    seed: int = 1,
) -> Finding:
    """Targeted designs: the notify IRQ migrates on offline; loss for a window with, forever without."""
    designs = (("dynamic-apic", "apic-id-arg"), ("caller-vcpu", "ghci-1.5-caller"))
    d_short, d_long = sorted(durations)
    numbers: dict[str, float | int] = {}
    old, new, broken = nobalancing_migration(cpus, kernel=kernel)  # raises where no CPU can go offline
    guest = era_guest(kernel)
    numbers |= {"nobalancing_old_cpu": old, "nobalancing_new_cpu": new}
    needs = bounded = moved = True
    summary = []
    for name, vmm in designs:
        base = make_strategy(name, reregister_delay_ms=reregister_delay_ms)
        assert isinstance(base, DynamicIrq)
        target = offline_target(base, vmm, cpus)
        hp = ((offline_at_s, target, "offline"),)
        with_r = open_run(
            base,
            vmm,
            cpus=cpus,
            rate_per_s=rate_per_s,
            seed=seed,
            duration_s=d_long,
            hotplug=hp,
            frames=True,
            **guest,
        )
        w = with_r.metrics.loss_window_s
        in_window = count_events(with_r.events, "inject", offline_at_s, offline_at_s + w)
        without = dataclasses.replace(base, reregister=False)
        run_kw = {"cpus": cpus, "rate_per_s": rate_per_s, "seed": seed, "hotplug": hp, **guest}
        lost_no, after = _never_reregistering(without, vmm, (d_short, d_long), offline_at_s, run_kw)
        m = with_r.metrics
        numbers |= {
            key("target_cpu", name): target,
            key("notify_cpu_after", name): -1 if m.notify_cpu is None else m.notify_cpu,
            key("migrations", name): m.notify_migrations,
            key("loss_window_s", name): w,
            key("injected_in_window", name): in_window,
            key("lost_reregister", name): m.lost_notifications,
            key(key_by("lost_no_reregister", d_short), name): lost_no[0],
            key(key_by("lost_no_reregister", d_long), name): lost_no[1],
            key(key_by("injected_after_offline", d_long), name): after,
        }
        moved = moved and m.notify_migrations >= 1
        bounded = bounded and w > 0 and m.lost_notifications <= in_window
        needs = needs and 0 < lost_no[0] < lost_no[1] and lost_no[1] == after
        summary.append(
            f"{name}: IRQ CPU {target} -> {m.notify_cpu}, window {w:.2f} s costing {m.lost_notifications} "
            f"(of {in_window} injected in it); without: {lost_no[0]} lost by {d_short:g} s, {lost_no[1]} by "
            f"{d_long:g} s (all {after} after the offline)"
        )
    if not needs:
        verdict = "fails"
    elif bounded and moved:
        verdict = "holds"
    else:
        verdict = "depends"
    evidence = (
        f"On {kernel}: offlining the notify IRQ's CPU at {offline_at_s:g} s migrates it despite "
        "IRQF_NOBALANCING "
        f"(CPU {old} -> {new}, affinity broken: {broken}). " + "; ".join(summary) + "."
    )
    flips = (
        f"The window is the time to re-register (ASSUMPTION: {reregister_delay_ms:g} ms here, a parameter) "
        "and costs every completion in it; nothing migrates with a system vector or when the target CPU "
        "stays online (the BSP cannot go offline), and a VMM that holds interrupts for an offline vCPU hides "
        "the loss only if the IRQ happens to return to the same CPU and vector. Moot on a kernel whose TDs "
        "cannot offline CPUs (5.19..6.10: CC_ATTR_HOTPLUG_DISABLED; 6.11+ without a v1 MADT wakeup mailbox)."
    )
    return Finding(verdict, evidence, numbers, flips)


def _never_reregistering(
    strategy: DynamicIrq,
    vmm: str,
    durations: tuple[float, float],
    offline_at_s: float,
    run_kw: dict[str, Any],
) -> tuple[list[int], int]:
    """(notifications lost by each duration, notifications injected after the offline in the longer
    run) of a design that never registers again."""
    lost: list[int] = []
    after = 0
    for d, frames in ((durations[0], False), (durations[1], True)):
        r = open_run(strategy, vmm, duration_s=d, frames=frames, **run_kw)
        lost.append(r.metrics.lost_notifications)
        if frames:
            after = count_events(r.events, "inject", after=offline_at_s)
    return lost, after
