"""What the checks of every topic share: one open-workload run, VMM labels, number formats, and the
CPU a hotplug check takes offline. Kept apart so each topic module reads as its checks alone."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tdxlib.argument.evidence import notify_cpu
from tdxlib.errors import ValidationError
from tdxlib.sim import Metrics, Result, Scenario, run
from tdxlib.tdx.guest import DEFAULT_LAYOUT
from tdxlib.tdx.strategies import NotifyStrategy
from tdxlib.tdx.vmm import VmmProfile

__all__ = [
    "count_notified",
    "era_guest",
    "fmt_ms",
    "fmt_pct",
    "label",
    "offline_target",
    "open_run",
    "vmm_list",
]


def era_guest(kernel: str) -> dict[str, Any]:
    """Scenario fields of a check's guest on ``kernel``: that kernel in the IDT the thread's designs are
    compared in, the v8 patch's (``DEFAULT_LAYOUT``: it has the system vector, the dynamic designs
    allocate from its device range). A check on another era's kernel so takes from that kernel only
    the facts it declares it reads (offlining, HZ, msleep)."""
    return {"kernel": kernel, "layout": DEFAULT_LAYOUT}


def vmm_list(vmm: str | VmmProfile | Sequence[str | VmmProfile]) -> list[str | VmmProfile]:
    """One VMM (a name or a profile) or several, as a list."""
    if isinstance(vmm, (str, VmmProfile)):
        return [vmm]
    return list(vmm)


def label(vmm: str | VmmProfile) -> str:
    """A VMM's name, as the checks print it and key their numbers by."""
    return vmm.name if isinstance(vmm, VmmProfile) else str(vmm)


def fmt_pct(x: float) -> str:
    """``0.875`` as ``87.5%``."""
    return f"{100.0 * x:.1f}%"


def fmt_ms(x: float) -> str:
    """A latency in whole milliseconds, ``n/a`` when there is none (NaN)."""
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0f} ms"


def open_run(
    strategy: NotifyStrategy,
    vmm: str | VmmProfile,
    *,
    cpus: int,
    rate_per_s: float,
    seed: int,
    frames: bool = False,
    **kw: Any,
) -> Result:
    """One open-workload run (requests keep arriving even when one hangs); ``frames`` when the check
    reads the events or quotes, else the metrics-only run (the same metrics, cheaper)."""
    return run(
        Scenario(
            cpus=cpus, strategy=strategy, vmm=vmm, workload="open", rate_per_s=rate_per_s, seed=seed, **kw
        ),
        frames=frames,
    )


def count_notified(m: Metrics) -> int:
    """Injected notifications that reached the quote driver."""
    return m.notifications_injected - m.lost_notifications


def offline_target(strategy: NotifyStrategy, vmm: str | VmmProfile, cpus: int) -> int:
    """The CPU the strategy's notify IRQ lands on at boot (:func:`~tdxlib.argument.evidence.notify_cpu`),
    which a hotplug check takes offline: an error when there is none or it is the BSP (never offline)."""
    cpu = notify_cpu(strategy, vmm, cpus)
    if cpu is None or cpu == 0:
        raise ValidationError("notify IRQ CPU", cpu, "a CPU other than the BSP, to take offline")
    return cpu
