"""Checks of the vector-budget claims: is one system vector per CPU wasteful, and does the kernel
config gate its cost? Read off the vector layouts and the budget model, no simulation."""

from __future__ import annotations

from collections.abc import Sequence

from tdxlib.argument.claims.registry import Finding, check, key, key_at
from tdxlib.argument.claims.support import fmt_pct
from tdxlib.kernel.budget import budget, offline_limit
from tdxlib.kernel.profile import HOTPLUG_KERNEL, load_kernel
from tdxlib.kernel.vectors import layout_switches, load_layout

__all__: list[str] = []  # checks are reached through tdxlib.argument.claims.check


@check.register("system-vector-wasteful", reads=("cpu_offline",))
def _wasteful(*, kernel: str = HOTPLUG_KERNEL, cpus: Sequence[int] = (8, 64, 512, 4096, 8192)) -> Finding:
    """Vector budget of the system vector vs one dynamic vector as the machine grows; near exhaustion it
    refuses CPU offline earlier (moot on a kernel whose TDs cannot offline CPUs)."""
    offlining = load_kernel(kernel).offlining
    numbers: dict[str, float | int] = {}
    onsets = []
    for n in cpus:
        bs, bd = budget("system-vector", n), budget("dynamic", n)
        numbers |= {
            key_at("vectors_total_system_vector", n): bs.notify_vectors_total,
            key_at("vectors_total_dynamic", n): bd.notify_vectors_total,
            key_at("device_capacity_system_vector", n): bs.device_capacity,
            key_at("device_capacity_dynamic", n): bd.device_capacity,
        }
        if offlining.allowed:
            onsets.append(_offline_numbers(n, bs.device_capacity, numbers))
    big, small = max(cpus), min(cpus)
    sv_dv = budget("system-vector", small).device_vectors_per_cpu
    dyn_dv = budget("dynamic", small).device_vectors_per_cpu
    per_cpu = (dyn_dv - sv_dv) / dyn_dv
    numbers |= {
        "device_vectors_per_cpu_system_vector": sv_dv,
        "device_vectors_per_cpu_dynamic": dyn_dv,
        "per_cpu_fraction": per_cpu,
    }
    if onsets:
        numbers["onset_load_fraction_min"] = min(onsets)
    tot_sv, tot_dyn = (numbers[key_at(f"vectors_total_{d}", big)] for d in ("system_vector", "dynamic"))
    if tot_sv <= tot_dyn:
        verdict = "fails"
    elif per_cpu >= 0.05 or (onsets and min(onsets) < 0.5):
        verdict = "holds"
    else:
        verdict = "depends"
    head = (
        f"The system vector takes {tot_sv} vectors on {big} CPUs (one per CPU) against {tot_dyn} for a "
        f"dynamic IRQ, but per CPU it is 1 of {dyn_dv} device vectors ({fmt_pct(per_cpu)}, {sv_dv} left)."
    )
    if onsets:
        lim_sv, lim_dyn = (
            numbers[key_at("offline_limit_system_vector", small)],
            numbers[key_at("offline_limit_dynamic", small)],
        )
        refused = numbers[key_at("offline_refused_system_vector", small)]
        tail = (
            f" It only shows near exhaustion: at {small} CPUs offlining is refused beyond {lim_sv} device "
            f"IRQs ({refused} CPUs refused at one more) where the dynamic design still allows it up to "
            f"{lim_dyn}; the onset is at {fmt_pct(min(onsets))} of the vector capacity or more."
        )
    else:
        tail = (
            " It only shows near exhaustion, where request_irq() fails with -ENOSPC one IRQ per CPU earlier; "
            f"the CPU offline it would also refuse is moot on {kernel} ({offlining.reason})."
        )
    flips = (
        "Holds outright for guests run near vector exhaustion (device load within ~1 IRQ per CPU of the "
        "offline limit: CPU offline refused, request_irq() -ENOSPC one IRQ per CPU earlier); a non-issue for "
        "TDs with light device load. The v8 layout also costs the vector on kernels not booted as TDs "
        "(config-gated). The offline refusal needs a kernel whose TDs can offline CPUs (6.11+)."
    )
    return Finding(verdict, head + tail, numbers, flips, "" if onsets else "its CPU-offline refusal")


def _offline_numbers(n: int, capacity: int, numbers: dict[str, float | int]) -> float:
    """Offline limits and refusals of both designs on ``n`` CPUs into ``numbers``; the onset load (as a
    fraction of the system vector's device capacity) at which the system vector refuses an offline."""
    ls, ld = offline_limit("system-vector", n), offline_limit("dynamic", n)
    at = ls + 1
    rs, rd = budget("system-vector", n, at).offline_refused, budget("dynamic", n, at).offline_refused
    numbers |= {
        key_at("offline_limit_system_vector", n): ls,
        key_at("offline_limit_dynamic", n): ld,
        key_at("offline_refused_system_vector", n): rs,
        key_at("offline_refused_dynamic", n): rd,
    }
    return at / capacity


@check.register("config-gated")
def _config_gated(*, base: str = "linux-5.19", patched: str = "linux-5.19-tdx-v8") -> Finding:
    """Does CONFIG_INTEL_TDX_GUEST gate the cost? Compare device vectors per CPU across configs."""
    numbers: dict[str, float | int] = {}
    combos: list[tuple[str, str, dict[str, bool]]] = [
        (base, "off", {"INTEL_TDX_GUEST": False}),
        (base, "on", {"INTEL_TDX_GUEST": True}),
        (patched, "off", {"INTEL_TDX_GUEST": False}),
        (patched, "on", {"INTEL_TDX_GUEST": True}),
    ]
    if "TDX_GUEST_DETECTED" in layout_switches(patched):
        combos = [
            *combos[:2],
            (patched, "off", {"INTEL_TDX_GUEST": False, "TDX_GUEST_DETECTED": False}),
            (patched, "on-bare-metal", {"INTEL_TDX_GUEST": True, "TDX_GUEST_DETECTED": False}),
            (patched, "on", {"INTEL_TDX_GUEST": True, "TDX_GUEST_DETECTED": True}),
        ]
    for name, tag, cfg in combos:
        lay = load_layout(name, **cfg)
        numbers[key("device_vectors_per_cpu", name, tag)] = lay.device_vectors_per_cpu(1)
        numbers[key("FIRST_SYSTEM_VECTOR", name, tag)] = lay.FIRST_SYSTEM_VECTOR
        numbers[key("LOCAL_TIMER_VECTOR", name, tag)] = lay.vector("LOCAL_TIMER_VECTOR")
    distro = load_layout(patched)
    numbers["distro_default_INTEL_TDX_GUEST"] = int(bool(distro.config.get("INTEL_TDX_GUEST", False)))
    b_off = numbers[key("device_vectors_per_cpu", base, "off")]
    p_off = numbers[key("device_vectors_per_cpu", patched, "off")]
    b_on = numbers[key("device_vectors_per_cpu", base, "on")]
    p_on = numbers[key("device_vectors_per_cpu", patched, "on")]
    if p_off < b_off:
        verdict = "fails"
    elif p_on < b_on and numbers["distro_default_INTEL_TDX_GUEST"]:
        verdict = "depends"
    else:
        verdict = "holds"
    timer = numbers[key("LOCAL_TIMER_VECTOR", patched, "off")]
    first_p, first_b = (numbers[key("FIRST_SYSTEM_VECTOR", k, "off")] for k in (patched, base))
    evidence = (
        f"{patched} puts LOCAL_TIMER_VECTOR at {timer:#x} whatever "
        f"the config (FIRST_SYSTEM_VECTOR {first_p:#x} vs "
        f"{first_b:#x} in {base}): {p_off} device vectors per CPU with "
        f"CONFIG_INTEL_TDX_GUEST off and {p_on} with it on, against {b_off}/{b_on} — and the default "
        f"(distribution) config builds the option in "
        f"({'yes' if numbers['distro_default_INTEL_TDX_GUEST'] else 'no'})."
    )
    flips = (
        "Would hold for kernels without the option only if the timer vector had moved under the same #if "
        "(the patch moved it unconditionally); even then every distribution kernel, built with the option, "
        "pays one vector per CPU, TD or not."
    )
    return Finding(verdict, evidence, numbers, flips)
