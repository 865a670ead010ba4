"""The two sides a proposal pairs with its spec change: the guest strategy that would use it
(:class:`StrategySpec`, built with :func:`tdxlib.tdx.strategies.make_strategy`) and the VMM behaviour
that would implement it (:class:`VmmSpec`: a shipped profile with fields overridden). Each model checks
that what it describes can be built, and points an error at the field that prevents it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from tdxlib.argument.proposals.fields import (
    CONFIG,
    GetQuoteChecks,
    LayoutName,
    ProfileName,
    StrategyName,
    Vector,
    field_error,
    one_of,
)
from tdxlib.cache import memo
from tdxlib.errors import ValidationError
from tdxlib.kernel.vectors import load_layout
from tdxlib.tdx.strategies import make_strategy
from tdxlib.tdx.vmm import Inject, LatencyModel, OfflineTarget, Target, VmmProfile, load_profile

__all__ = [
    "FallbackParams",
    "LatencySpec",
    "StrategyParams",
    "StrategySpec",
    "VmmOverrides",
    "VmmSpec",
    "strategy_fields",
]


# --------------------------------------------------------------------------------------------------
# Guest strategy
# --------------------------------------------------------------------------------------------------


class FallbackParams(BaseModel):
    """A polling fallback for an interrupt strategy (``tdxlib.tdx.strategies.Polling`` parameters)."""

    model_config = CONFIG

    name: Literal["polling"] = "polling"
    interval_ms: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    iterations: int | None = Field(default=None, ge=1)
    status_check: bool | None = None
    serialized: bool | None = None

    def given(self) -> dict[str, Any]:
        """The parameters written in the file (what :func:`make_strategy` receives)."""
        return {k: getattr(self, k) for k in sorted(self.model_fields_set)}


class StrategyParams(BaseModel):
    """Parameters of the guest strategies (each strategy takes a subset; see tdxlib.tdx.strategies)."""

    model_config = CONFIG

    timeout_s: float | None = Field(
        default=None, gt=0, description="interrupt wait bound in s; null = forever"
    )
    fallback: FallbackParams | None = None
    drivers: int | None = Field(default=None, ge=1, description="drivers with a callback on the notification")
    callback_list: bool | None = None
    serialized: bool | None = None
    vector: Vector | None = None
    apic_targeting: bool | None = None
    call_from_target: bool | None = None
    reregister: bool | None = None
    reregister_delay_ms: float | None = Field(default=None, ge=0)
    target_cpu: int | None = Field(default=None, ge=0)
    early: bool | None = None
    interval_ms: int | None = Field(default=None, ge=1)
    iterations: int | None = Field(default=None, ge=1)
    status_check: bool | None = None
    with_apic: bool | None = None

    def given(self) -> dict[str, Any]:
        """The parameters written in the file, a nested fallback as a mapping."""
        out: dict[str, Any] = {}
        for k in sorted(self.model_fields_set):
            v = getattr(self, k)
            out[k] = v.given() if isinstance(v, FallbackParams) else v
        return out


@memo(maxsize=None)
def strategy_fields(name: str) -> tuple[str, ...]:
    """Parameter names of the strategy ``name`` (the fields of the class make_strategy builds)."""
    return tuple(f.name for f in dataclasses.fields(make_strategy(name)))


class StrategySpec(BaseModel):
    """The guest side: a strategy name and parameters (:func:`tdxlib.tdx.strategies.make_strategy`) and
    the guest kernel's vector layout."""

    model_config = CONFIG

    name: StrategyName
    params: StrategyParams = StrategyParams()
    layout: LayoutName = Field(default="linux-5.19", description="guest vector layout (data/vectors/)")

    @model_validator(mode="after")
    def _buildable(self) -> StrategySpec:
        allowed = strategy_fields(self.name)
        given = self.params.given()
        for key in given:
            if key not in allowed:
                raise field_error(
                    f"{self.name} has no parameter {key!r}; its parameters: {one_of(allowed)}", "params", key
                )
        self.build_with({})
        reserves = self.name == "system-vector" and "vector" not in given  # the layout must reserve it
        if reserves and "TDX_GUEST_EVENT_NOTIFY_VECTOR" not in load_layout(self.layout).system_vectors():
            raise field_error(
                f"layout {self.layout} reserves no TDX_GUEST_EVENT_NOTIFY_VECTOR for system-vector; "
                "use linux-5.19-tdx-v8 or give params.vector",
                "layout",
            )
        return self

    def build_with(self, extra: dict[str, Any]) -> Any:
        """The strategy object, with ``extra`` parameters (those the strategy has) on top of the file's."""
        allowed = strategy_fields(self.name)
        given = self.params.given()
        params = {**given, **{k: v for k, v in extra.items() if k in allowed}}
        try:
            return make_strategy(self.name, **params)
        except ValidationError as exc:
            key = exc.what.split(" ")[0].split(".")[0]
            sub: tuple[str, ...] = ("params", key) if key in given else ("params",)
            raise field_error(str(exc), *sub) from None

    def label(self) -> str:
        """The strategy's own label (parameters that differ from its defaults)."""
        return str(self.build_with({}).label())


# --------------------------------------------------------------------------------------------------
# VMM behaviour
# --------------------------------------------------------------------------------------------------


class LatencySpec(BaseModel):
    """A quote-service latency distribution (``tdxlib.tdx.vmm.LatencyModel``)."""

    model_config = CONFIG

    kind: Literal["fixed", "uniform", "lognormal", "exponential"]
    ms: float | None = Field(default=None, ge=0)
    low_ms: float | None = Field(default=None, ge=0)
    high_ms: float | None = Field(default=None, ge=0)
    median_ms: float | None = Field(default=None, gt=0)
    sigma: float | None = Field(default=None, ge=0)
    mean_ms: float | None = Field(default=None, gt=0)
    assumption: str = ""


class VmmOverrides(BaseModel):
    """Fields of a VMM profile (``tdxlib.tdx.vmm.VmmProfile``) the proposal changes."""

    model_config = CONFIG

    title: str | None = None
    validates_vector: bool | None = None
    inject: Inject | None = None
    inject_probability: float | None = Field(default=None, ge=0, le=1)
    target: Target | None = None
    offline_target: OfflineTarget | None = None
    service_latency_ms: LatencySpec | None = None
    failure_rate: float | None = Field(default=None, ge=0, le=1)
    never_answers: bool | None = None
    max_in_flight: int | None = Field(default=None, ge=1)
    service_timeout_ms: float | None = Field(default=None, gt=0)
    quote_service: bool | None = None
    supports_setup_event_notify: bool | None = None
    supports_get_quote: bool | None = None
    get_quote_checks: GetQuoteChecks | None = None
    leak_guard: bool | None = None
    validates_apic_id: bool | None = None
    notes: str | None = None

    def given(self) -> dict[str, Any]:
        """The fields written in the file."""
        return {k: getattr(self, k) for k in sorted(self.model_fields_set)}


class VmmSpec(BaseModel):
    """The host side: a shipped VMM profile, optionally with fields overridden."""

    model_config = CONFIG

    profile: ProfileName
    overrides: VmmOverrides | None = None

    @model_validator(mode="after")
    def _buildable(self) -> VmmSpec:
        self.build(self.profile)
        return self

    def build(self, name: str) -> VmmProfile:
        """The profile with the overrides applied, named ``name`` when there are any."""
        base = load_profile(self.profile)
        if self.overrides is None or not self.overrides.model_fields_set:
            return base
        changes = self.overrides.given()
        lat = changes.get("service_latency_ms")
        try:
            if lat is not None:
                changes["service_latency_ms"] = LatencyModel(
                    **{k: getattr(lat, k) for k in lat.model_fields_set}
                )
            return dataclasses.replace(base, name=name, **changes)
        except ValidationError as exc:
            key = exc.what.split(" ")[0]
            if key in changes:
                raise field_error(str(exc), "overrides", key) from None
            if lat is not None and key in LatencySpec.model_fields:
                raise field_error(str(exc), "overrides", "service_latency_ms", key) from None
            raise field_error(str(exc), "overrides") from None
