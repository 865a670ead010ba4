"""A VMM *profile*: what a host VMM validates, whether and where it injects, how long its quote service takes.

Profiles are data (data/vmm/*.yaml, format in its README; JSON Schema ``tdxlib schema vmm-profile``),
validated by pydantic on construction and loaded by name or path with every error naming file, line
and field. A loaded profile is remembered under its
file's :func:`~tdxlib.cache.stat_key` (the list of names under the folder's ``glob_key``), so a profile
edited or added during a session is read again. Profiles are frozen: every caller may share one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass

from tdxlib.cache import glob_key, memo, stat_key
from tdxlib.data import data_path, exists, is_file, load_yaml
from tdxlib.errors import DataError, ValidationError
from tdxlib.models import api_dataclass, validate
from tdxlib.tdx.ghci.calls import GetQuoteChecks
from tdxlib.values import Bool, Float, Int, Pattern, Str

LatencyKind = Literal["fixed", "uniform", "lognormal", "exponential"]
Inject = Literal["must", "can", "never"]
Target = Literal[
    "any", "random-online", "bsp", "setup-caller", "getquote-caller", "apic-id-arg", "getquote-arg"
]
OfflineTarget = Literal["pending", "lost"]

Ms = Annotated[Float, Field(ge=0)]
Probability = Annotated[Float, Field(ge=0, le=1)]
_CLOSED = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------------------
# Latency
# --------------------------------------------------------------------------------------------------


@api_dataclass
@dataclass(frozen=True, config=_CLOSED)
class LatencyModel:
    """A service-time distribution in milliseconds.

    ``fixed``: ``ms``; ``uniform``: ``low_ms``..``high_ms``; ``lognormal``: ``median_ms`` and ``sigma``
    (of the underlying normal); ``exponential``: ``mean_ms``. ``assumption`` says where the numbers
    come from (most are assumptions, and must say so).
    """

    kind: LatencyKind
    ms: Ms | None = None
    low_ms: Ms | None = None
    high_ms: Ms | None = None
    median_ms: Ms | None = None
    sigma: Ms | None = None
    mean_ms: Ms | None = None
    assumption: Str = ""

    PARAMS: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "fixed": ("ms",),
        "uniform": ("low_ms", "high_ms"),
        "lognormal": ("median_ms", "sigma"),
        "exponential": ("mean_ms",),
    }
    ALL_PARAMS: ClassVar[tuple[str, ...]] = ("ms", "low_ms", "high_ms", "median_ms", "sigma", "mean_ms")

    @model_validator(mode="after")
    def _params_of_kind(self) -> LatencyModel:
        """Exactly the parameters of ``kind``, ``low_ms <= high_ms``, a positive median or mean."""
        wanted = self.PARAMS[self.kind]
        for name in self.ALL_PARAMS:
            value = getattr(self, name)
            if name not in wanted and value is not None:
                raise ValidationError(name, value, f"absent for kind {self.kind} (takes {', '.join(wanted)})")
            if name in wanted and value is None:
                raise ValidationError(
                    name, value, f"a number of ms (kind {self.kind} needs {', '.join(wanted)})"
                )
        if self.kind == "uniform" and self.low_ms > self.high_ms:  # type: ignore[operator]
            raise ValidationError("high_ms", self.high_ms, f">= low_ms ({self.low_ms})")
        positive = {"lognormal": "median_ms", "exponential": "mean_ms"}.get(self.kind)
        if positive is not None and getattr(self, positive) == 0:
            raise ValidationError(positive, 0, "> 0")
        return self

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


@api_dataclass
@dataclass(frozen=True, config=_CLOSED)
class VmmProfile:
    """How a VMM handles SetupEventNotifyInterrupt and GetQuote; validated on construction (in Python
    a ValidationError naming the field, from a file a DataError naming file, line and field).

    Interface fields (coordination.md) first; the extensions after them have defaults so a
    profile file only states them when it differs from a plain, injecting, QEMU-checking VMM.
    """

    name: Annotated[
        Str, Pattern(r"[a-z0-9][a-z0-9.\-]*", "lower-case letters, digits, '.', '-' (a file stem)")
    ]
    title: Str
    source: Str
    validates_vector: Bool
    inject: Inject
    target: Target
    offline_target: OfflineTarget
    service_latency_ms: LatencyModel
    inject_probability: Probability = 1.0
    failure_rate: Probability = 0.0
    never_answers: Bool = False
    max_in_flight: Annotated[Int, Field(ge=1)] | None = None
    #: VMM-side timeout: the request completes with GET_QUOTE_ERROR after this long (QEMU: 30 s).
    service_timeout_ms: Annotated[Float, Field(gt=0)] | None = None
    #: False: no quote service configured -> header status SERVICE_UNAVAILABLE at once, no interrupt.
    quote_service: Bool = True
    #: False: the call answers TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED (nothing registered / queued).
    supports_setup_event_notify: Bool = True
    supports_get_quote: Bool = True
    #: Which GetQuote argument checks apply (see tdxlib.tdx.ghci.explain_get_quote).
    get_quote_checks: GetQuoteChecks = "qemu"
    leak_guard: Bool = False
    #: For apic-id-arg / getquote-arg: an APIC ID that names no vCPU -> INVALID_OPERAND.
    validates_apic_id: Bool = False
    #: The version modelled (e.g. "QEMU 10.1, target/i386/kvm/tdx.c @05caf269").
    models: Str = ""
    notes: Str = ""

    @model_validator(mode="after")
    def _probability_of_inject(self) -> VmmProfile:
        if self.inject == "must" and self.inject_probability != 1.0:
            raise ValidationError("inject_probability", self.inject_probability, "1.0 when inject is must")
        if self.inject == "never" and self.inject_probability != 0.0:
            raise ValidationError("inject_probability", self.inject_probability, "0.0 when inject is never")
        return self

    def with_service_ms(self, ms: float) -> VmmProfile:
        """The same profile with a fixed service time (for what-ifs and the CLI's --service-ms)."""
        return replace(self, service_latency_ms=LatencyModel.fixed(ms))


def profile_from_mapping(m: Any, path: str | Path = "<mapping>") -> VmmProfile:
    """Build a profile from a YAML mapping; every error is a DataError naming file, line and field."""
    return validate(VmmProfile, m, Path(path), what="a VMM profile")


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
    return path if is_file(path) else None


def is_shipped(name: str) -> bool:
    """Whether ``name`` is a shipped profile's name (one stat: cheaper than listing data/vmm)."""
    return shipped_path(name) is not None


def load_profile(name_or_path: str | Path) -> VmmProfile:
    """A shipped profile by name (``"qemu-10.1"``) or any profile file by path."""
    shipped = shipped_path(name_or_path) if isinstance(name_or_path, str) else None
    if shipped is not None:
        return _load_path(str(shipped))
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or exists(p):
        if not is_file(p):
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
