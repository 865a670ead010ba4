"""What to simulate: :class:`Scenario` (guest, load, strategy, VMM, workload, hotplug, seed), its checks,
YAML scenario files, and the VMM profile a scenario names.

One frozen, validated record per situation, so scenarios can be compared, hashed, cached and shipped
to worker processes; every bad value raises a :class:`~tdxlib.errors.ValidationError` naming it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from tdxlib.cache import memo
from tdxlib.data import load_yaml
from tdxlib.errors import DataError, ValidationError
from tdxlib.kernel.profile import DEFAULT_KERNEL, GuestKernel, load_kernel
from tdxlib.tdx.strategies import NotifyStrategy, SystemVector, make_strategy
from tdxlib.tdx.vmm import VmmProfile, is_shipped, load_profile, profile_names

__all__ = ["DEFAULT_QUOTES", "Hotplug", "Scenario", "load_scenario"]

#: Quotes per run when neither ``quotes`` nor ``duration_s`` is given.
DEFAULT_QUOTES = 100


class Hotplug(NamedTuple):
    """One scheduled hotplug event ``(time_s, cpu, 'offline'|'online')``."""

    time_s: float
    cpu: int
    action: str


def _make_hotplug(item: object) -> Hotplug:
    """Validate one schedule entry (a Hotplug, a 3-sequence or a mapping with the three fields)."""
    if isinstance(item, Mapping):
        values = (item.get("time_s"), item.get("cpu"), item.get("action"))
    elif isinstance(item, (tuple, list)) and len(item) == 3:
        values = (item[0], item[1], item[2])
    else:
        raise ValidationError("hotplug event", item, "(time_s, cpu, 'offline'|'online')")
    time_s, cpu, action = values
    if not isinstance(time_s, (int, float)) or isinstance(time_s, bool) or not time_s >= 0:
        raise ValidationError("hotplug time_s", time_s, "a time in seconds >= 0")
    if not isinstance(cpu, (int, np.integer)) or isinstance(cpu, bool) or cpu < 0:
        raise ValidationError("hotplug cpu", cpu, "a CPU number >= 1 (the BSP cannot go offline)")
    if action not in ("offline", "online"):
        raise ValidationError("hotplug action", action, "'offline' or 'online'")
    return Hotplug(float(time_s), int(cpu), str(action))


def _num(
    what: str, value: object, *, lo: float = 0.0, strict: bool = False, allow_none: bool = False
) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value > lo if strict else value >= lo  # type: ignore[operator]
    if not ok:
        rel = ">" if strict else ">="
        raise ValidationError(what, value, f"a finite number {rel} {lo}" + (" or None" if allow_none else ""))


def _int(what: str, value: object, *, lo: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < lo:
        raise ValidationError(what, value, f"an integer >= {lo}" + (" or None" if allow_none else ""))


@memo(maxsize=256)
def _with_service_ms(profile: VmmProfile, service_ms: float) -> VmmProfile:
    """``profile`` with a fixed quote-service time (profiles are frozen: every run may share it)."""
    return profile.with_service_ms(service_ms)


# --------------------------------------------------------------------------------------------------
# The scenario
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One simulated situation: guest, device load, notify strategy, VMM, workload, hotplug, seed.

    ``strategy`` may be given as a strategy object, a name (``"polling"``) or a mapping
    ``{"name": ..., **params}``; ``vmm`` as a profile name, a path or a :class:`VmmProfile`.
    ``service_ms`` replaces the profile's service-latency distribution with a fixed time.
    Workload ``closed``: one requester, the next quote ``think_ms`` after the last returns
    (``backoff_ms`` after an error). ``open``: ``requesters`` Poisson streams totalling ``rate_per_s``.
    The run stops after ``quotes`` requests are issued and have returned (or cannot return), or at
    ``duration_s``, whichever comes first (neither given: 100 quotes), and never after ``max_time_s``.
    Hotplug: explicit ``hotplug`` events and/or one event every ``hotplug_every_s`` alternating
    offline/online of a CPU chosen by ``hotplug_cpus`` (``"random"``, ``"notify"`` = the notify IRQ's CPU,
    or a list cycled through). ``kernel`` names the guest's kernel profile (``data/kernels``): its vector
    layout, HZ, msleep semantics and whether a CPU can go offline at all (a hotplug scenario on a kernel
    that cannot is refused when it runs); ``layout``, ``hz`` and ``extra_jiffy`` override the profile's
    facts (None: the kernel's; ``extra_jiffy=False`` is msleep without the historical ``+ 1`` jiffy,
    Linux 6.12+). ``guest_work_ms`` is the guest's own time per request before the GetQuote TDVMCALL
    returns (TDG.MR.REPORT and the hypercall).
    """

    cpus: int = 8
    apic_ids: str | tuple[int, ...] = "identity"
    kernel: str = DEFAULT_KERNEL
    layout: str | None = None  # None: the kernel's
    hz: int | None = None  # guest HZ; None: the kernel's
    extra_jiffy: bool | None = None  # None: the kernel's
    device_irqs: int = 0
    managed_queues: int = 0
    strategy: NotifyStrategy = field(default_factory=SystemVector)
    vmm: str | VmmProfile = "ghci-1.0"
    service_ms: float | None = None
    workload: Literal["closed", "open"] = "closed"
    rate_per_s: float = 1.0
    requesters: int = 1
    quotes: int | None = None  # None with no duration_s: 100 quotes
    duration_s: float | None = None
    guest_work_ms: float = 0.1
    think_ms: float = 0.0
    backoff_ms: float = 1000.0
    hotplug: tuple[Hotplug, ...] = ()
    hotplug_every_s: float | None = None
    hotplug_cpus: str | tuple[int, ...] = "random"
    max_time_s: float = 86400.0
    seed: int = 0

    def __post_init__(self) -> None:
        # the checks run in field order: with several bad values, the first field's is reported
        _check_guest(self)
        object.__setattr__(self, "strategy", _strategy_of(self.strategy))
        _check_vmm(self)
        _check_workload(self)
        _check_hotplug(self)
        _num("max_time_s", self.max_time_s, strict=True)
        _int("seed", self.seed, lo=0)

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def guest_kernel(self) -> GuestKernel:
        """The guest's kernel profile with this scenario's overrides (layout, HZ, msleep)."""
        return load_kernel(self.kernel).guest(layout=self.layout, hz=self.hz, extra_jiffy=self.extra_jiffy)

    def profile(self) -> VmmProfile:
        """The VMM profile in effect (with ``service_ms`` applied)."""
        prof = self.vmm if isinstance(self.vmm, VmmProfile) else load_profile(self.vmm)
        return prof if self.service_ms is None else _with_service_ms(prof, self.service_ms)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML/JSON-able): the strategy as ``{name, **params}``, the VMM by name."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, NotifyStrategy):
                v = v.to_dict()
            elif isinstance(v, VmmProfile):
                v = v.name
            elif f.name == "hotplug":
                v = [list(h) for h in v]
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | Path | None = None) -> Scenario:
        """Build from a mapping (e.g. YAML); unknown keys and bad values name the key (and line)."""
        names = {f.name for f in dataclasses.fields(cls)}
        line_of = getattr(data, "line_of", lambda _k: None)
        for key in data:
            if key not in names:
                raise DataError(
                    f"unknown scenario field {key!r}; expected one of {sorted(names)}", path, line_of(key)
                )
        kwargs = dict(data)
        if isinstance(kwargs.get("hotplug"), list):
            kwargs["hotplug"] = tuple(kwargs["hotplug"])
        for key in ("apic_ids", "hotplug_cpus"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])
        try:
            return cls(**kwargs)
        except ValidationError as exc:
            if path is None:
                raise
            key = exc.what.split(" ")[0].split(".")[0]
            raise DataError(
                str(exc), path, line_of(key) if key in data else getattr(data, "line", None)
            ) from None


def _check_guest(sc: Scenario) -> None:
    """cpus, apic_ids, kernel (and its overrides layout, hz, extra_jiffy), device_irqs, managed_queues."""
    _int("cpus", sc.cpus, lo=1)
    if sc.cpus > 8192:
        raise ValidationError("cpus", sc.cpus, "an integer in 1..8192")
    object.__setattr__(sc, "cpus", int(sc.cpus))
    if isinstance(sc.apic_ids, str):
        if sc.apic_ids not in ("identity", "x2apic-gaps"):
            raise ValidationError("apic_ids", sc.apic_ids, "'identity', 'x2apic-gaps' or a list of APIC IDs")
    else:
        object.__setattr__(sc, "apic_ids", tuple(int(a) for a in sc.apic_ids))
    sc.guest_kernel()  # the kernel is known and the overrides are valid
    _int("device_irqs", sc.device_irqs, lo=0)
    _int("managed_queues", sc.managed_queues, lo=0)


def _strategy_of(strat: object) -> NotifyStrategy:
    """A strategy object from a strategy, a name or ``{name: ..., **params}``."""
    if isinstance(strat, str):
        strat = make_strategy(strat)
    elif isinstance(strat, Mapping):
        params = dict(strat)
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise ValidationError("strategy.name", name, "a strategy name")
        strat = make_strategy(name, **params)
    if not isinstance(strat, NotifyStrategy):
        raise ValidationError("strategy", strat, "a NotifyStrategy, a strategy name or {name: ..., params}")
    return strat


def _check_vmm(sc: Scenario) -> None:
    """vmm (a shipped name, a .yaml path or a profile) and service_ms."""
    if isinstance(sc.vmm, Path):
        object.__setattr__(sc, "vmm", str(sc.vmm))
    if isinstance(sc.vmm, str):
        if not is_shipped(sc.vmm) and not sc.vmm.endswith((".yaml", ".yml")):
            raise ValidationError("vmm", sc.vmm, f"one of {profile_names()} or a .yaml profile path")
    elif not isinstance(sc.vmm, VmmProfile):
        raise ValidationError("vmm", sc.vmm, "a profile name, a .yaml path or a VmmProfile")
    _num("service_ms", sc.service_ms, allow_none=True)


def _check_workload(sc: Scenario) -> None:
    """workload, rate_per_s, requesters, quotes, duration_s (neither: DEFAULT_QUOTES), the pauses."""
    if sc.workload not in ("closed", "open"):
        raise ValidationError("workload", sc.workload, "'closed' or 'open'")
    _num("rate_per_s", sc.rate_per_s, strict=True)
    _int("requesters", sc.requesters, lo=1)
    _int("quotes", sc.quotes, lo=0, allow_none=True)
    _num("duration_s", sc.duration_s, strict=True, allow_none=True)
    if sc.quotes is None and sc.duration_s is None:
        object.__setattr__(sc, "quotes", DEFAULT_QUOTES)
    for name in ("guest_work_ms", "think_ms", "backoff_ms"):
        _num(name, getattr(sc, name))


def _check_hotplug(sc: Scenario) -> None:
    """hotplug (sorted by time), hotplug_every_s, hotplug_cpus; CPU 0 (the BSP) never goes offline."""
    events = []
    for h in sc.hotplug:
        ev = _make_hotplug(h)
        if ev.cpu == 0 or ev.cpu >= sc.cpus:
            raise ValidationError(
                "hotplug cpu", ev.cpu, f"a CPU in 1..{sc.cpus - 1} (the BSP cannot go offline)"
            )
        events.append(ev)
    object.__setattr__(sc, "hotplug", tuple(sorted(events, key=lambda e: e.time_s)))
    _num("hotplug_every_s", sc.hotplug_every_s, strict=True, allow_none=True)
    if isinstance(sc.hotplug_cpus, str):
        if sc.hotplug_cpus not in ("random", "notify"):
            raise ValidationError("hotplug_cpus", sc.hotplug_cpus, "'random', 'notify' or a list of CPUs")
    else:
        cpus = tuple(int(c) for c in sc.hotplug_cpus)
        if not cpus or any(c <= 0 or c >= sc.cpus for c in cpus):
            raise ValidationError("hotplug_cpus", list(cpus), f"a non-empty list of CPUs in 1..{sc.cpus - 1}")
        object.__setattr__(sc, "hotplug_cpus", cpus)
    if (sc.hotplug or sc.hotplug_every_s) and sc.cpus < 2:
        raise ValidationError("cpus", sc.cpus, ">= 2 for CPU hotplug (the BSP stays online)")


def load_scenario(path: str | Path, **overrides: Any) -> Scenario:
    """Read a YAML scenario file (fields of :class:`Scenario`); ``overrides`` replace fields."""
    p = Path(path)
    if not p.is_file():
        raise DataError("scenario file not found", p)
    data = load_yaml(p)
    if not isinstance(data, Mapping):
        raise DataError(f"a scenario must be a mapping of fields, got {type(data).__name__}", p)
    merged = dict(data)
    merged.update(overrides)
    if overrides:
        return Scenario.from_dict(merged)
    return Scenario.from_dict(data, p)
