"""A VMM *profile*: what a host VMM validates, whether and where it injects, how long its quote service takes.

Profiles are data (data/vmm/*.yaml, format in its README), validated on construction and loaded by
name or path with every error naming file, line and field. A loaded profile is remembered under its
file's :func:`~tdxlib.cache.stat_key` (the list of names under the folder's ``glob_key``), so a profile
edited or added during a session is read again. Profiles are frozen: every caller may share one.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import numpy as np

from tdxlib.cache import glob_key, memo, stat_key
from tdxlib.data import data_path, load_yaml
from tdxlib.errors import DataError, ValidationError
from tdxlib.tdx.ghci.calls import GetQuoteChecks

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
    get_quote_checks: GetQuoteChecks = "qemu"
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


# --------------------------------------------------------------------------------------------------
# Loading, remembered per file state
# --------------------------------------------------------------------------------------------------


@memo(maxsize=64)
def _read_profile(path: str, stamp: tuple[tuple[str, int, int], ...]) -> VmmProfile:
    """The profile in ``path`` as it is on disk (``stamp``: its stat_key, the memo key)."""
    return profile_from_mapping(load_yaml(path), path)


def _load_path(path: str) -> VmmProfile:
    return _read_profile(path, stat_key(path))


@memo(maxsize=4)
def _names(stamp: tuple[tuple[str, int, int], ...]) -> tuple[str, ...]:
    """The profile names of a ``glob_key`` of data/vmm (its first entry is the folder itself)."""
    return tuple(sorted(Path(path).stem for path, _size, _mtime in stamp[1:]))


def profile_names() -> list[str]:
    """Names of the shipped profiles (data/vmm/*.yaml stems), sorted."""
    return list(_names(glob_key(data_path("vmm"))))


def shipped_path(name: str) -> Path | None:
    """data/vmm/NAME.yaml when ``name`` is a shipped profile's name (a stem of profile_names())."""
    if not name or os.sep in name or (os.altsep is not None and os.altsep in name):
        return None
    path = data_path("vmm", f"{name}.yaml")
    return path if path.is_file() else None


def is_shipped(name: str) -> bool:
    """Whether ``name`` is a shipped profile's name (one stat: cheaper than listing data/vmm)."""
    return shipped_path(name) is not None


def load_profile(name_or_path: str | Path) -> VmmProfile:
    """A shipped profile by name (``"qemu-10.1"``) or any profile file by path."""
    shipped = shipped_path(name_or_path) if isinstance(name_or_path, str) else None
    if shipped is not None:
        return _load_path(str(shipped))
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise DataError("VMM profile file not found", p)
        return _load_path(str(p.resolve()))
    raise ValidationError("VMM profile", name_or_path, f"one of {profile_names()} or a path to a .yaml file")


__all__ = [
    "Inject",
    "LatencyKind",
    "LatencyModel",
    "OfflineTarget",
    "Target",
    "VmmProfile",
    "is_shipped",
    "load_profile",
    "profile_from_mapping",
    "profile_names",
]
