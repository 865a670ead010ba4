"""What to simulate: :class:`Scenario` (guest, load, strategy, VMM, workload, hotplug, seed), its checks,
YAML scenario files, and the VMM profile a scenario names.

One frozen pydantic model per situation (:class:`tdxlib.models.ApiModel`), so scenarios can be
compared, hashed, cached and shipped to worker processes; a bad value given in Python raises a
:class:`~tdxlib.errors.ValidationError` naming the field, the value and what is allowed, one in a
scenario file a :class:`~tdxlib.errors.DataError` naming file, line and field. ``tdxlib schema
scenario`` prints the JSON Schema of the file format.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from tdxlib.cache import memo
from tdxlib.data import load_yaml
from tdxlib.errors import ValidationError
from tdxlib.kernel.jiffies import COMMON_HZ
from tdxlib.kernel.limits import APIC_ID_MAX, NR_CPUS_MAX, NR_VECTORS
from tdxlib.kernel.profile import DEFAULT_KERNEL, GuestKernel, load_kernel
from tdxlib.models import ApiModel, build, validate
from tdxlib.tdx.strategies import STRATEGY_NAMES, NotifyStrategy, SystemVector, make_strategy
from tdxlib.tdx.vmm import VmmProfile, is_shipped, load_profile, profile_names
from tdxlib.values import AnyOf, Bool, Choices, Float, Int, Str

__all__ = ["DEFAULT_QUOTES", "Hotplug", "Scenario", "load_scenario"]

#: Quotes per run when neither ``quotes`` nor ``duration_s`` is given.
DEFAULT_QUOTES = 100
#: The most quote requests of a run: a day of ten quotes a second is 864,000 (more is no workload).
MAX_QUOTES = 1_000_000
#: The most requesters of an open workload (each is a simulated process; more is no workload anyone runs).
MAX_REQUESTERS = 65536
#: The most device IRQs or managed queues: more than every vector of the largest machine.
MAX_DEVICE_IRQS = NR_CPUS_MAX * NR_VECTORS
#: The shortest period of scheduled CPU hotplug: taking a CPU offline (stop_machine, IRQ migration) and
#: bringing it back takes the kernel milliseconds; a shorter period is no workload, only a run that
#: never ends (1 us made 30 million events out of a 30 s run).
MIN_HOTPLUG_PERIOD_S = 0.01
#: The most hotplug events a run may schedule: ``min(duration_s, max_time_s) / hotplug_every_s`` (a run
#: whose quotes hang lasts max_time_s); 200,000 events take the simulator some 20 s.
MAX_HOTPLUG_EVENTS = 200_000

Seconds = Annotated[Float, Field(ge=0)]
Ms = Annotated[Float, Field(ge=0)]
Positive = Annotated[Float, Field(gt=0)]


class Hotplug(NamedTuple):
    """One scheduled hotplug event ``(time_s, cpu, 'offline'|'online')``."""

    time_s: Seconds
    cpu: Annotated[Int, Field(ge=0, le=NR_CPUS_MAX - 1)]
    action: Literal["offline", "online"]


def _hotplug_item(item: object) -> object:
    """A hotplug event may also be written as a mapping ``{time_s, cpu, action}``."""
    if isinstance(item, Mapping) and set(item) <= {"time_s", "cpu", "action"}:
        return (item.get("time_s"), item.get("cpu"), item.get("action"))
    return item


def _strategy_of(strat: object) -> NotifyStrategy:
    """A strategy object from a strategy, a name or ``{name: ..., **params}``."""
    if isinstance(strat, NotifyStrategy):
        return strat
    if isinstance(strat, str):
        return make_strategy(strat)
    if isinstance(strat, Mapping):
        params = dict(strat)
        name = params.pop("name", None)
        fallback = params.get("fallback")
        keys = [*params, *(fallback if isinstance(fallback, Mapping) else ())]
        if isinstance(name, str) and all(isinstance(k, str) for k in keys):
            return make_strategy(name, **params)
    raise ValidationError("strategy", strat, "a NotifyStrategy, a strategy name or {name: ..., params}")


def _vmm_name(vmm: object) -> object:
    """A shipped profile's name or a path to a .yaml profile (a profile object is taken as it is)."""
    if isinstance(vmm, str) and not is_shipped(vmm) and not vmm.endswith((".yaml", ".yml")):
        raise ValidationError("vmm", vmm, f"one of {profile_names()} or a .yaml profile path")
    return vmm


_STRATEGY_SCHEMA = {
    "description": "a notify strategy: its name, or {name: ..., parameter: value, ...}",
    "anyOf": [
        {"enum": list(STRATEGY_NAMES)},
        {
            "type": "object",
            "properties": {"name": {"enum": list(STRATEGY_NAMES)}},
            "required": ["name"],
        },
    ],
}

if TYPE_CHECKING:
    Strategy = NotifyStrategy
else:  # pydantic must not look into the strategy classes (dataclasses with forward references)
    Strategy = Annotated[Any, PlainValidator(_strategy_of), WithJsonSchema(_STRATEGY_SCHEMA)]
Vmm = Annotated[
    VmmProfile | Str,
    AnyOf("a VMM profile: a shipped name (data/vmm/), a .yaml path or a VmmProfile"),
    BeforeValidator(lambda v: str(v) if isinstance(v, Path) else v),
    AfterValidator(_vmm_name),
]
ApicIds = Annotated[
    Literal["identity", "x2apic-gaps"] | tuple[Annotated[Int, Field(ge=0, le=APIC_ID_MAX)], ...],
    AnyOf(f"'identity', 'x2apic-gaps' or a list of APIC IDs in 0..{APIC_ID_MAX:#x}"),
]
HotplugCpus = Annotated[
    Literal["random", "notify"] | Annotated[tuple[Annotated[Int, Field(ge=1)], ...], Field(min_length=1)],
    AnyOf("'random', 'notify' or a non-empty list of CPUs >= 1 (the BSP cannot go offline)"),
]


@memo(maxsize=256)
def _with_service_ms(profile: VmmProfile, service_ms: float) -> VmmProfile:
    """``profile`` with a fixed quote-service time (profiles are frozen: every run may share it)."""
    return profile.with_service_ms(service_ms)


# --------------------------------------------------------------------------------------------------
# The scenario
# --------------------------------------------------------------------------------------------------


class Scenario(ApiModel):
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
    that cannot is refused when it runs); ``layout``, ``hz`` (a Kconfig choice) and ``extra_jiffy``
    override the profile's facts (None: the kernel's; ``extra_jiffy=False`` is msleep without the
    historical ``+ 1`` jiffy, Linux 6.12+). ``guest_work_ms`` is the guest's own time per request before
    the GetQuote TDVMCALL returns (TDG.MR.REPORT and the hypercall). Sizes are bounded by the kernel's
    limits (:mod:`tdxlib.kernel.limits`).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)  # the strategy and profile objects

    cpus: Annotated[Int, Field(ge=1, le=NR_CPUS_MAX)] = 8
    apic_ids: ApicIds = "identity"
    kernel: Annotated[Str, Field(min_length=1)] = DEFAULT_KERNEL
    layout: Annotated[Str, Field(min_length=1)] | None = None  # None: the kernel's
    hz: Annotated[Int, Choices(COMMON_HZ, "kernel/Kconfig.hz")] | None = None  # guest HZ; None: the kernel's
    extra_jiffy: Bool | None = None  # None: the kernel's
    device_irqs: Annotated[Int, Field(ge=0, le=MAX_DEVICE_IRQS)] = 0
    managed_queues: Annotated[Int, Field(ge=0, le=MAX_DEVICE_IRQS)] = 0
    strategy: Strategy = Field(default_factory=SystemVector)
    vmm: Vmm = "ghci-1.0"
    service_ms: Ms | None = None
    workload: Literal["closed", "open"] = "closed"
    rate_per_s: Positive = 1.0
    requesters: Annotated[Int, Field(ge=1, le=MAX_REQUESTERS)] = 1
    quotes: Annotated[Int, Field(ge=0, le=MAX_QUOTES)] | None = None  # None with no duration_s: 100 quotes
    duration_s: Positive | None = None
    guest_work_ms: Ms = 0.1
    think_ms: Ms = 0.0
    backoff_ms: Ms = 1000.0
    hotplug: tuple[Annotated[Hotplug, BeforeValidator(_hotplug_item)], ...] = ()
    hotplug_every_s: Annotated[Float, Field(ge=MIN_HOTPLUG_PERIOD_S)] | None = None
    hotplug_cpus: HotplugCpus = "random"
    max_time_s: Positive = 86400.0
    seed: Annotated[Int, Field(ge=0)] = 0

    @model_validator(mode="before")
    @classmethod
    def _default_quotes(cls, data: Any) -> Any:
        """Neither ``quotes`` nor ``duration_s``: DEFAULT_QUOTES quotes."""
        if isinstance(data, Mapping) and data.get("quotes") is None and data.get("duration_s") is None:
            return {**data, "quotes": DEFAULT_QUOTES}
        return data

    @model_validator(mode="after")
    def _kernel_and_hotplug(self) -> Scenario:
        """The kernel is known and its overrides valid; hotplug CPUs exist and are not the BSP (CPU 0),
        events sorted by time, no more events than a run can take."""
        self.guest_kernel()
        for ev in self.hotplug:
            if ev.cpu == 0 or ev.cpu >= self.cpus:
                raise ValidationError(
                    "hotplug cpu", ev.cpu, f"a CPU in 1..{self.cpus - 1} (the BSP cannot go offline)"
                )
        object.__setattr__(self, "hotplug", tuple(sorted(self.hotplug, key=lambda e: e.time_s)))
        if not isinstance(self.hotplug_cpus, str) and any(c >= self.cpus for c in self.hotplug_cpus):
            raise ValidationError(
                "hotplug_cpus", list(self.hotplug_cpus), f"a non-empty list of CPUs in 1..{self.cpus - 1}"
            )
        if (self.hotplug or self.hotplug_every_s) and self.cpus < 2:
            raise ValidationError("cpus", self.cpus, ">= 2 for CPU hotplug (the BSP stays online)")
        every, horizon = self.hotplug_every_s, min(self.duration_s or self.max_time_s, self.max_time_s)
        if every and horizon / every > MAX_HOTPLUG_EVENTS:
            shortest = horizon / MAX_HOTPLUG_EVENTS
            allowed = f">= {shortest:g} for a run of up to {horizon:g} s (<= {MAX_HOTPLUG_EVENTS:,} events)"
            raise ValidationError("hotplug_every_s", every, allowed)
        return self

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some fields changed (validated again)."""
        return type(self)(**{**self._values(), **changes})

    def _values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in type(self).model_fields}

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
        for name, v in self._values().items():
            if isinstance(v, NotifyStrategy):
                v = v.to_dict()
            elif isinstance(v, VmmProfile):
                v = v.name
            elif name == "hotplug":
                v = [list(h) for h in v]
            elif isinstance(v, tuple):
                v = list(v)
            out[name] = v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | Path | None = None) -> Scenario:
        """Build from a mapping (e.g. YAML): with ``path`` a bad field is a DataError naming the file,
        line and field; without, a ValidationError naming the field."""
        if path is not None:
            return validate(cls, data, Path(path), what="a scenario")
        return build(cls, data)


def load_scenario(path: str | Path, **overrides: Any) -> Scenario:
    """Read a YAML scenario file (fields of :class:`Scenario`); ``overrides`` replace fields (the file
    is checked on its own first, so its errors name file, line and field)."""
    p = Path(path)
    data = load_yaml(p)
    scenario = Scenario.from_dict(data, p)
    return Scenario.from_dict({**data, **overrides}) if overrides else scenario
