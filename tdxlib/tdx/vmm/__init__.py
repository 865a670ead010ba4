"""A host VMM that answers the guest's TDVMCALLs as a *profile* (data/vmm/*.yaml) says.

A profile states what the VMM validates, whether it injects the event-notify vector at all
(``must``/``can``/``never``), into which vCPU (the GHCI text as written, QEMU's "caller of
SetupEventNotifyInterrupt, recorded at call time", the BSP, a random vCPU, ...), what happens when
that vCPU is offline, and how long the quote service takes. ``Vmm`` keeps the registration and the
requests in flight; the simulator (``tdxlib.sim``) asks it for statuses, service times, outcomes and
notifications. The offline-at-injection rule (``offline_target``) is applied by the simulator.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple, get_args

import numpy as np

from tdxlib.data import data_path, load_yaml
from tdxlib.errors import DataError, ValidationError
from tdxlib.tdx import ghci

LatencyKind = Literal["fixed", "uniform", "lognormal", "exponential"]
Inject = Literal["must", "can", "never"]
Target = Literal[
    "any", "random-online", "bsp", "setup-caller", "getquote-caller", "apic-id-arg", "getquote-arg"
]
OfflineTarget = Literal["pending", "lost"]

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# --------------------------------------------------------------------------------------------------
# Latency
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyModel:
    """A service-time distribution in milliseconds.

    ``fixed``: ``ms``; ``uniform``: ``low_ms``..``high_ms``; ``lognormal``: ``median_ms`` and ``sigma``
    (of the underlying normal); ``exponential``: ``mean_ms``. ``assumption`` says where the numbers
    come from (most are assumptions, and must say so).
    """

    kind: LatencyKind
    ms: float | None = None
    low_ms: float | None = None
    high_ms: float | None = None
    median_ms: float | None = None
    sigma: float | None = None
    mean_ms: float | None = None
    assumption: str = ""

    PARAMS: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "fixed": ("ms",),
        "uniform": ("low_ms", "high_ms"),
        "lognormal": ("median_ms", "sigma"),
        "exponential": ("mean_ms",),
    }
    ALL_PARAMS: ClassVar[tuple[str, ...]] = ("ms", "low_ms", "high_ms", "median_ms", "sigma", "mean_ms")

    def __post_init__(self) -> None:
        if self.kind not in self.PARAMS:
            raise ValidationError("kind", self.kind, f"one of {list(self.PARAMS)}")
        wanted = self.PARAMS[self.kind]
        for name in self.ALL_PARAMS:
            value = getattr(self, name)
            if name not in wanted:
                if value is not None:
                    raise ValidationError(
                        name, value, f"absent for kind {self.kind} (takes {', '.join(wanted)})"
                    )
                continue
            if value is None:
                raise ValidationError(
                    name, value, f"a number of ms (kind {self.kind} needs {', '.join(wanted)})"
                )
            if not _is_number(value) or value < 0:
                raise ValidationError(name, value, "a finite number >= 0")
            object.__setattr__(self, name, float(value))
        if not isinstance(self.assumption, str):
            raise ValidationError("assumption", self.assumption, "a string")
        if (
            self.kind == "uniform"
            and self.low_ms is not None
            and self.high_ms is not None
            and self.low_ms > self.high_ms
        ):
            raise ValidationError("high_ms", self.high_ms, f">= low_ms ({self.low_ms})")
        if self.kind in ("lognormal", "exponential"):
            positive = "median_ms" if self.kind == "lognormal" else "mean_ms"
            if getattr(self, positive) == 0:
                raise ValidationError(positive, 0, "> 0")

    @classmethod
    def fixed(cls, ms: float) -> LatencyModel:
        """A constant service time (what ``tdxlib sim --service-ms`` sets)."""
        return cls(kind="fixed", ms=ms, assumption="fixed by the caller")

    def sample(self, rng: np.random.Generator) -> float:
        """One service time in ms (draws exactly what ``sample_many(rng, 1)`` would)."""
        if self.kind == "fixed":
            assert self.ms is not None
            return self.ms
        return float(self.sample_many(rng, 1)[0])

    def sample_many(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` service times in ms (vectorised)."""
        if self.kind == "fixed":
            return np.full(n, self.ms, dtype=float)
        if self.kind == "uniform":
            assert self.low_ms is not None and self.high_ms is not None
            return rng.uniform(self.low_ms, self.high_ms, n)
        if self.kind == "lognormal":
            assert self.median_ms is not None and self.sigma is not None
            return rng.lognormal(math.log(self.median_ms), self.sigma, n)
        assert self.mean_ms is not None
        return rng.exponential(self.mean_ms, n)

    @property
    def mean(self) -> float:
        """Expected service time in ms."""
        if self.kind == "fixed":
            assert self.ms is not None
            return self.ms
        if self.kind == "uniform":
            assert self.low_ms is not None and self.high_ms is not None
            return (self.low_ms + self.high_ms) / 2
        if self.kind == "lognormal":
            assert self.median_ms is not None and self.sigma is not None
            return self.median_ms * math.exp(self.sigma**2 / 2)
        assert self.mean_ms is not None
        return self.mean_ms


# --------------------------------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------------------------------

# field -> (kind, required). kind: "str", "bool", "prob" (0..1), "float+" (> 0), "int+" (>= 1), a tuple
# of allowed literals, or "latency". Optional fields may be null when their default is None.
_FIELDS: dict[str, tuple[object, bool]] = {
    "name": ("str", True),
    "title": ("str", True),
    "source": ("str", True),
    "validates_vector": ("bool", True),
    "inject": (get_args(Inject), True),
    "target": (get_args(Target), True),
    "offline_target": (get_args(OfflineTarget), True),
    "service_latency_ms": ("latency", True),
    "inject_probability": ("prob", False),
    "failure_rate": ("prob", False),
    "never_answers": ("bool", False),
    "max_in_flight": ("int+", False),
    "service_timeout_ms": ("float+", False),
    "quote_service": ("bool", False),
    "supports_setup_event_notify": ("bool", False),
    "supports_get_quote": ("bool", False),
    "get_quote_checks": (("qemu", "spec", "shared-bit", "none"), False),
    "leak_guard": ("bool", False),
    "validates_apic_id": ("bool", False),
    "models": ("str", False),
    "notes": ("str", False),
}


def _check_field(name: str, value: object) -> object:
    """Type/range check of one profile field; returns the normalised value or raises ValidationError."""
    kind, _required = _FIELDS[name]
    if value is None and name in _NULLABLE:
        return None
    if kind == "str":
        if not isinstance(value, str):
            raise ValidationError(name, value, "a string")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ValidationError(name, value, "true or false")
    elif kind == "prob":
        if not _is_number(value) or not 0.0 <= float(value) <= 1.0:  # type: ignore[arg-type]
            raise ValidationError(name, value, "a probability 0..1")
        return float(value)  # type: ignore[arg-type]
    elif kind == "float+":
        if not _is_number(value) or float(value) <= 0:  # type: ignore[arg-type]
            raise ValidationError(name, value, "a number of ms > 0, or null")
        return float(value)  # type: ignore[arg-type]
    elif kind == "int+":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValidationError(name, value, "an integer >= 1, or null (no limit)")
    elif kind == "latency":
        if not isinstance(value, LatencyModel):
            raise ValidationError(name, value, "a LatencyModel")
    elif isinstance(kind, tuple) and value not in kind:
        raise ValidationError(name, value, f"one of {list(kind)}")
    return value


_NULLABLE = ("max_in_flight", "service_timeout_ms")


@dataclass(frozen=True)
class VmmProfile:
    """How a VMM handles SetupEventNotifyInterrupt and GetQuote; validated on construction.

    Interface fields (coordination.md) first; the extensions after them have defaults so a
    profile file only states them when it differs from a plain, injecting, QEMU-checking VMM.
    """

    name: str
    title: str
    source: str
    validates_vector: bool
    inject: Inject
    target: Target
    offline_target: OfflineTarget
    service_latency_ms: LatencyModel
    inject_probability: float = 1.0
    failure_rate: float = 0.0
    never_answers: bool = False
    max_in_flight: int | None = None
    #: VMM-side timeout: the request completes with GET_QUOTE_ERROR after this long (QEMU: 30 s).
    service_timeout_ms: float | None = None
    #: False: no quote service configured -> header status SERVICE_UNAVAILABLE at once, no interrupt.
    quote_service: bool = True
    #: False: the call answers TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED (nothing registered / queued).
    supports_setup_event_notify: bool = True
    supports_get_quote: bool = True
    #: Which GetQuote argument checks apply (see tdxlib.tdx.ghci.explain_get_quote).
    get_quote_checks: ghci.GetQuoteChecks = "qemu"
    leak_guard: bool = False
    #: For apic-id-arg / getquote-arg: an APIC ID that names no vCPU -> INVALID_OPERAND.
    validates_apic_id: bool = False
    #: The version modelled (e.g. "QEMU 10.1, target/i386/kvm/tdx.c @05caf269").
    models: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _check_field(f.name, getattr(self, f.name)))
        if not _NAME_RE.match(self.name):
            raise ValidationError("name", self.name, "lower-case letters, digits, '.', '-' (a file stem)")
        if self.inject == "must" and self.inject_probability != 1.0:
            raise ValidationError("inject_probability", self.inject_probability, "1.0 when inject is must")
        if self.inject == "never" and self.inject_probability != 0.0:
            raise ValidationError("inject_probability", self.inject_probability, "0.0 when inject is never")

    def with_service_ms(self, ms: float) -> VmmProfile:
        """The same profile with a fixed service time (for what-ifs and the CLI's --service-ms)."""
        return replace(self, service_latency_ms=LatencyModel.fixed(ms))


def _line(m: Any, key: Any = None) -> int | None:
    """1-based line of ``key`` in a LineDict (of the mapping when key is None); None for plain dicts."""
    if key is not None and hasattr(m, "line_of"):
        line = m.line_of(key)
        return int(line) if line is not None else None
    return getattr(m, "line", None)


def _latency_from_mapping(m: Any, path: Path, key_line: int | None) -> LatencyModel:
    where = "service_latency_ms"
    if isinstance(m, LatencyModel):
        return m
    if not isinstance(m, dict):
        raise DataError(
            f"field {where!r}: expected a mapping with kind and params, got {m!r}", path, key_line
        )
    allowed = {"kind", "assumption", *LatencyModel.ALL_PARAMS}
    for key in m:
        if key not in allowed:
            raise DataError(
                f"field '{where}.{key}': unknown field; expected one of {sorted(allowed)}",
                path,
                _line(m, key),
            )
    try:
        return LatencyModel(**{str(k): v for k, v in m.items()})
    except ValidationError as exc:
        line = _line(m, exc.what) if exc.what in m else _line(m)
        raise DataError(f"field '{where}.{exc.what}': {exc}", path, line) from None


def profile_from_mapping(m: Any, path: str | Path = "<mapping>") -> VmmProfile:
    """Build a profile from a YAML mapping; every error is a DataError naming file, line and field."""
    p = Path(path)
    if not isinstance(m, dict):
        raise DataError(f"a VMM profile must be a mapping of fields, got {type(m).__name__}", p)
    for key in m:
        if key not in _FIELDS:
            raise DataError(
                f"field {key!r}: unknown field; expected one of {sorted(_FIELDS)}", p, _line(m, key)
            )
    for key, (_kind, required) in _FIELDS.items():
        if required and key not in m:
            raise DataError(f"field {key!r}: missing (required)", p, _line(m))
    values = dict(m)
    values["service_latency_ms"] = _latency_from_mapping(
        m["service_latency_ms"], p, _line(m, "service_latency_ms")
    )
    try:
        return VmmProfile(**values)
    except ValidationError as exc:
        raise DataError(f"field {exc.what!r}: {exc}", p, _line(m, exc.what)) from None


@lru_cache(maxsize=64)
def _load_path(path: str) -> VmmProfile:
    return profile_from_mapping(load_yaml(path), path)


def profile_names() -> list[str]:
    """Names of the shipped profiles (data/vmm/*.yaml stems), sorted."""
    return sorted(p.stem for p in data_path("vmm").glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> VmmProfile:
    """A shipped profile by name (``"qemu-10.1"``) or any profile file by path."""
    if isinstance(name_or_path, str) and name_or_path in profile_names():
        return _load_path(str(data_path("vmm", f"{name_or_path}.yaml")))
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise DataError("VMM profile file not found", p)
        return _load_path(str(p.resolve()))
    raise ValidationError("VMM profile", name_or_path, f"one of {profile_names()} or a path to a .yaml file")


# --------------------------------------------------------------------------------------------------
# The VMM
# --------------------------------------------------------------------------------------------------


class Service(NamedTuple):
    """One quote-service answer: when (ms after the request; None = never) and with what header status."""

    time_ms: float | None
    outcome: int


class Vmm:
    """A host VMM driven by a profile: registration, request statuses, service, notifications.

    ``apic_ids`` (all present vCPUs, online or not) is needed for target ``any`` and for APIC-ID
    validation; without it ``any`` falls back to the online vCPUs passed to ``notification``.
    """

    def __init__(
        self,
        profile: VmmProfile,
        rng: np.random.Generator,
        *,
        apic_ids: Sequence[int] | None = None,
        shared_bit: int | None = None,
    ) -> None:
        if not isinstance(profile, VmmProfile):
            raise ValidationError("profile", type(profile).__name__, "a VmmProfile (see load_profile)")
        if not isinstance(rng, np.random.Generator):
            raise ValidationError("rng", type(rng).__name__, "a numpy.random.Generator (default_rng(seed))")
        self.profile = profile
        self.rng = rng
        self.apic_ids: tuple[int, ...] | None = tuple(apic_ids) if apic_ids is not None else None
        #: The GPA bit of shared memory the VMM checks (default: data/ghci's, bit 51).
        self.shared_bit: int = ghci.SHARED_BIT_DEFAULT if shared_bit is None else shared_bit
        #: The registration, as QEMU keeps it: unset (None) until a valid call, overwritten by later ones.
        self.registered_vector: int | None = None
        self.registered_apic_id: int | None = None
        #: GetQuote requests queued and not yet completed (completion = a ``notification`` call).
        self.in_flight = 0
        #: What the VMM wrote in the buffer header on the last accepted GetQuote (IN_FLIGHT or
        #: SERVICE_UNAVAILABLE), None when the call was rejected.
        self.last_header_status: int | None = None
        self._timed_out = False

    def reset(self) -> None:
        """Guest reset: registration back to unset, nothing in flight (QEMU resets both to -1)."""
        self.registered_vector = None
        self.registered_apic_id = None
        self.in_flight = 0
        self.last_header_status = None

    def _known(self, known_apic_ids: Sequence[int] | None) -> Sequence[int] | None:
        if not self.profile.validates_apic_id:
            return None
        return known_apic_ids if known_apic_ids is not None else self.apic_ids

    def setup_event_notify_interrupt(
        self,
        call: ghci.SetupEventNotifyInterrupt,
        caller_apic_id: int,
        *,
        known_apic_ids: Sequence[int] | None = None,
    ) -> int:
        """Handle SetupEventNotifyInterrupt from vCPU ``caller_apic_id``; returns the TDVMCALL status.

        On SUCCESS the vector and an APIC ID are recorded *now*: the caller's (QEMU), or the call's
        APIC-ID argument for ``apic-id-arg`` profiles (the caller's when the guest gives none).
        """
        p = self.profile
        if not p.supports_setup_event_notify:
            return ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED
        takes_apic = p.target == "apic-id-arg"
        check = ghci.explain_setup_event_notify(
            call if takes_apic else ghci.SetupEventNotifyInterrupt(call.vector),
            known_apic_ids=self._known(known_apic_ids),
            validate_vector=p.validates_vector,
        )
        if not check.ok:
            return check.status
        self.registered_vector = call.vector
        self.registered_apic_id = call.apic_id if takes_apic and call.apic_id is not None else caller_apic_id
        return ghci.TDVMCALL_STATUS_SUCCESS

    def get_quote(
        self,
        call: ghci.GetQuote,
        caller_apic_id: int,
        buffer: bytes | None = None,
        *,
        known_apic_ids: Sequence[int] | None = None,
    ) -> int:
        """Handle GetQuote from vCPU ``caller_apic_id``; returns the TDVMCALL status at the boundary.

        Order as QEMU: argument checks, then no quote service -> SUCCESS with the header status
        SERVICE_UNAVAILABLE at once, then ``max_in_flight`` reached -> RETRY, else queued (SUCCESS,
        header IN_FLIGHT). ``last_header_status`` tells which.
        """
        p = self.profile
        self.last_header_status = None
        if not p.supports_get_quote:
            return ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED
        check = ghci.explain_get_quote(
            call, buffer, shared_bit=self.shared_bit, level=p.get_quote_checks, leak_guard=p.leak_guard
        )
        if not check.ok:
            return check.status
        if p.target == "getquote-arg":
            extra = ghci.explain_setup_event_notify(
                ghci.SetupEventNotifyInterrupt(call.vector if call.vector is not None else 32, call.apic_id),
                known_apic_ids=self._known(known_apic_ids),
                validate_vector=p.validates_vector and call.vector is not None,
            )
            if not extra.ok:
                return extra.status
        if not p.quote_service:
            self.last_header_status = ghci.GET_QUOTE_SERVICE_UNAVAILABLE
            return ghci.TDVMCALL_STATUS_SUCCESS
        if p.max_in_flight is not None and self.in_flight >= p.max_in_flight:
            return ghci.TDVMCALL_STATUS_RETRY
        self.in_flight += 1
        self.last_header_status = ghci.GET_QUOTE_IN_FLIGHT
        return ghci.TDVMCALL_STATUS_SUCCESS

    def service_time_ms(self) -> float | None:
        """Sample when the queued request completes (ms after GetQuote); None = never answers.

        A profile with ``service_timeout_ms`` completes at the timeout instead, and the next
        ``service_outcome()`` is then GET_QUOTE_ERROR (QEMU's 30 s transaction timer).
        """
        p = self.profile
        self._timed_out = False
        if not p.quote_service:
            return 0.0
        t = None if p.never_answers else p.service_latency_ms.sample(self.rng)
        if p.service_timeout_ms is not None and (t is None or t > p.service_timeout_ms):
            self._timed_out = True
            return p.service_timeout_ms
        return t

    def service_outcome(self) -> int:
        """The header status the request completes with (GET_QUOTE_SUCCESS / _ERROR / ...)."""
        p = self.profile
        if not p.quote_service:
            return ghci.GET_QUOTE_SERVICE_UNAVAILABLE
        if self._timed_out:
            self._timed_out = False
            return ghci.GET_QUOTE_ERROR
        if p.failure_rate >= 1.0:
            return ghci.GET_QUOTE_ERROR
        if p.failure_rate > 0.0 and self.rng.random() < p.failure_rate:
            return ghci.GET_QUOTE_ERROR
        return ghci.GET_QUOTE_SUCCESS

    def serve(self) -> Service:
        """``service_time_ms()`` and ``service_outcome()`` together."""
        t = self.service_time_ms()
        return Service(t, self.service_outcome())

    def notification(
        self,
        request_caller_apic_id: int,
        online_apic_ids: Sequence[int],
        bsp_apic_id: int,
        call: ghci.GetQuote | None = None,
        *,
        all_apic_ids: Sequence[int] | None = None,
    ) -> tuple[int, int] | None:
        """On a request's completion: ``(vector, target APIC ID)`` the VMM injects, or None.

        Call it once per completed request (it also retires the request from ``in_flight``).
        None when: no quote service, ``inject: never``, no vector registered (QEMU), a ``can``
        VMM that skips this one, or no vCPU to pick. The target may be offline: the simulator
        applies ``offline_target``.
        """
        p = self.profile
        self.in_flight = max(0, self.in_flight - 1)
        if not p.quote_service or p.inject == "never":
            return None
        vector = self.registered_vector
        if p.target == "getquote-arg" and call is not None and call.vector is not None:
            vector = call.vector
        if vector is None:
            return None
        if p.inject == "can" and not self.rng.random() < p.inject_probability:
            return None
        target = self._target(request_caller_apic_id, online_apic_ids, bsp_apic_id, call, all_apic_ids)
        return None if target is None else (vector, target)

    def _target(
        self,
        caller: int,
        online: Sequence[int],
        bsp: int,
        call: ghci.GetQuote | None,
        all_apic_ids: Sequence[int] | None,
    ) -> int | None:
        t = self.profile.target
        if t == "any":
            pool = all_apic_ids if all_apic_ids is not None else self.apic_ids
            return self._pick(pool if pool is not None else online)
        if t == "random-online":
            return self._pick(online)
        if t == "bsp":
            return bsp
        if t in ("setup-caller", "apic-id-arg"):
            return self.registered_apic_id
        if t == "getquote-caller":
            return caller
        # getquote-arg: the call's APIC ID, else the vCPU that issued GetQuote
        return call.apic_id if call is not None and call.apic_id is not None else caller

    def _pick(self, pool: Sequence[int]) -> int | None:
        if len(pool) == 0:
            return None
        return int(pool[int(self.rng.integers(len(pool)))])


__all__ = [
    "Inject",
    "LatencyKind",
    "LatencyModel",
    "OfflineTarget",
    "Service",
    "Target",
    "Vmm",
    "VmmProfile",
    "load_profile",
    "profile_from_mapping",
    "profile_names",
]
