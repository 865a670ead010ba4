"""The spec-proposal format: pydantic models, the single source of truth (``data/proposals/schema.json``
is generated from :class:`Proposal`).

A proposal states a GHCI change the way a spec writer thinks of it — per TDVMCALL, the arguments
added or changed (with their registers), the normative wording changed ("can" → "must"), the VMM's
targeting rule — and pairs it with the guest strategy that would use it and the VMM behaviour that
would implement it (a profile of ``data/vmm/`` with optional overrides). Rationale carries citations;
annotations are anchored to a GHCI section and TDVMCALL. Models are strict (no silent coercion of
``"4"`` to 4) and forbid unknown fields. Cross-field rules (a parameter the strategy does not have, a
section whose TDVMCALL differs from the anchor's) raise errors that carry the exact field path, so a
file error names the line (see :mod:`tdxlib.argument.proposals.load`).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tdxlib.argument.proposals import catalog
from tdxlib.errors import ValidationError
from tdxlib.tdx.vmm import Inject, OfflineTarget, Target, VmmProfile

__all__ = [
    "Annotation",
    "AnnotationKind",
    "ArgumentChange",
    "Change",
    "LatencySpec",
    "Proposal",
    "Rationale",
    "Source",
    "SpecAnchor",
    "StrategyParams",
    "StrategySpec",
    "VmmOverrides",
    "VmmSpec",
    "WordingChange",
    "field_error",
    "schema_json",
]

# --------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------

_CONFIG = ConfigDict(extra="forbid", strict=True, frozen=True)

Text = Annotated[str, StringConstraints(min_length=1)]
Date = Annotated[datetime.date, Field(strict=False, description="ISO date, e.g. 2022-06-20")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
Vector = Annotated[
    int, Field(ge=32, le=255, description="an interrupt vector, 32..255 (0..31 are exceptions)")
]

AnnotationKind = Literal["ambiguity", "normative-change", "question", "risk", "decision"]
Status = Literal[
    "draft", "proposed", "agreed", "adopted", "implemented", "rejected", "superseded", "withdrawn"
]
AnnotationStatus = Literal["open", "resolved", "accepted", "rejected", "deferred"]
Register = Literal["R12", "R13", "R14", "R15", "RBX", "RDI", "RSI", "R8", "R9", "RDX"]
StrategyName = Literal[
    "system-vector", "dynamic", "dynamic-apic", "caller-vcpu", "polling", "quote-carries-vector"
]
GetQuoteChecks = Literal["qemu", "spec", "shared-bit", "none"]

#: How a TDVMCALL added by a proposal is named (CamelCase, like the GHCI's).
NEW_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def field_error(message: str, *subloc: str | int) -> PydanticCustomError:
    """A validation error whose location continues with ``subloc`` below the model raising it."""
    return PydanticCustomError("tdxlib_field", "{message}", {"message": message, "subloc": list(subloc)})


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def _unknown(kind: str, message: str) -> PydanticCustomError:
    """An 'unknown name' error with a ready-made message (names the value and what is known)."""
    return PydanticCustomError(kind, "{message}", {"message": message})


def _check_section(value: str) -> str:
    if value not in catalog.known_sections():
        known = _one_of(tuple(catalog.known_sections()))
        raise _unknown(
            "unknown_section",
            f"GHCI section {value!r} is not in data/proposals/meta/sections.yaml; known: {known}",
        )
    return value


def _check_tdvmcall(value: str) -> str:
    if value not in catalog.tdvmcall_names():
        known = _one_of(catalog.tdvmcall_names())
        raise _unknown(
            "unknown_tdvmcall", f"TDVMCALL {value!r} is not a leaf of data/ghci/leaves.yaml; known: {known}"
        )
    return value


def _check_profile(value: str) -> str:
    if value not in catalog.vmm_profile_names():
        known = _one_of(catalog.vmm_profile_names())
        raise _unknown("unknown_profile", f"VMM profile {value!r} is not in data/vmm/; known: {known}")
    return value


def _check_layout(value: str) -> str:
    if value not in catalog.layout_names():
        known = _one_of(catalog.layout_names())
        raise _unknown("unknown_layout", f"vector layout {value!r} is not in data/vectors/; known: {known}")
    return value


def _check_scenario(value: str) -> str:
    if value not in catalog.suite_scenario_names():
        known = _one_of(catalog.suite_scenario_names())
        raise _unknown(
            "unknown_scenario",
            f"scenario {value!r} is defined by no suite of data/proposals/meta/suites.yaml; known: {known}",
        )
    return value


def _enum(values: tuple[str, ...], description: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": list(values), "description": description})


SectionId = Annotated[
    str,
    AfterValidator(_check_section),
    _enum(tuple(catalog.known_sections()), "a GHCI section of data/proposals/meta/sections.yaml"),
]
TdvmcallName = Annotated[
    str,
    AfterValidator(_check_tdvmcall),
    _enum(catalog.tdvmcall_names(), "a TDVMCALL of data/ghci/leaves.yaml"),
]
ProfileName = Annotated[
    str, AfterValidator(_check_profile), _enum(catalog.vmm_profile_names(), "a VMM profile of data/vmm/")
]
LayoutName = Annotated[
    str, AfterValidator(_check_layout), _enum(catalog.layout_names(), "a vector layout of data/vectors/")
]
ScenarioName = Annotated[
    str,
    AfterValidator(_check_scenario),
    _enum(catalog.suite_scenario_names(), "a scenario of data/proposals/meta/suites.yaml"),
]

# --------------------------------------------------------------------------------------------------
# Citations
# --------------------------------------------------------------------------------------------------


class Source(BaseModel):
    """A citation: a mail (Message-ID), a spec section, a commit or a URL, with author and date."""

    model_config = _CONFIG

    author: str | None = None
    date: Date | None = None
    message_id: Annotated[str, StringConstraints(pattern=r"^<[^<>\s@]+@[^<>\s]+>$")] | None = Field(
        None, description="<local@domain>, as in the mail header"
    )
    section: SectionId | None = None
    commit: Annotated[str, StringConstraints(pattern=r"^([\w.-]+/[\w.-]+@)?[0-9a-f]{7,40}$")] | None = Field(
        None, description="sha, or owner/repo@sha"
    )
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    note: str = ""

    @model_validator(mode="after")
    def _something_to_cite(self) -> Source:
        if not (self.message_id or self.section or self.commit or self.url):
            raise field_error("a source needs at least one of message_id, section, commit, url")
        return self

    def label(self) -> str:
        """One line: author, date and what is cited."""
        parts = [p for p in (self.author, self.date.isoformat() if self.date else None) if p]
        if self.section:
            parts.append(f"GHCI {self.section}")
        for value in (self.message_id, self.commit, self.url):
            if value:
                parts.append(value)
        return ", ".join(parts)


class Rationale(BaseModel):
    """One argument for (or against) the proposal, in our words, with its sources."""

    model_config = _CONFIG

    point: Text
    sources: list[Source] = Field(min_length=1)


# --------------------------------------------------------------------------------------------------
# Changes
# --------------------------------------------------------------------------------------------------


class ArgumentChange(BaseModel):
    """An argument of a TDVMCALL added, changed or removed, with its register."""

    model_config = _CONFIG

    reg: Register = Field(alias="register", description="the register that carries it")
    name: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$")]
    action: Literal["added", "changed", "removed"]
    range: list[int] | None = Field(
        default=None, min_length=2, max_length=2, description="[low, high], inclusive"
    )
    meaning: Text

    @model_validator(mode="after")
    def _range(self) -> ArgumentChange:
        if self.range is not None:
            lo, hi = self.range
            if not 0 <= lo <= hi <= (1 << 64) - 1:
                raise field_error(f"range [{lo}, {hi}] must satisfy 0 <= low <= high < 2**64", "range")
            if self.name == "vector" and not (lo >= 32 and hi <= 255):
                raise field_error(f"a vector range [{lo}, {hi}] must lie within 32..255", "range")
        return self


class WordingChange(BaseModel):
    """A normative wording change, e.g. ``can`` → ``must``, and the new statement in our words."""

    model_config = _CONFIG

    before: Text
    after: Text
    statement: Text


class Change(BaseModel):
    """What the proposal changes in one TDVMCALL: leaf, arguments, wording, VMM targeting rule."""

    model_config = _CONFIG

    tdvmcall: str = Field(
        description="a TDVMCALL of data/ghci/leaves.yaml, or a new one when leaf is 'added'"
    )
    section: SectionId | None = None
    leaf: Literal["unchanged", "added", "removed"] = "unchanged"
    arguments: list[ArgumentChange] = Field(default_factory=list)
    wording: list[WordingChange] = Field(default_factory=list)
    targeting: Target | None = Field(
        default=None, description="the VMM's targeting rule (tdxlib.tdx.vmm.Target)"
    )
    summary: Text

    @model_validator(mode="after")
    def _consistent(self) -> Change:
        known = catalog.tdvmcall_names()
        if self.leaf == "added":
            if self.tdvmcall in known:
                raise field_error(f"{self.tdvmcall} already exists; a new leaf needs a new name", "tdvmcall")
            if not NEW_NAME.match(self.tdvmcall):
                raise field_error("a new TDVMCALL is named in CamelCase, e.g. 'GetQuoteNotify'", "tdvmcall")
            return self
        if self.tdvmcall not in known:
            raise field_error(
                f"TDVMCALL {self.tdvmcall!r} is not a leaf of data/ghci/leaves.yaml "
                f"(known: {_one_of(known)}); set leaf: added for a new one",
                "tdvmcall",
            )
        if self.section is not None:
            owner = catalog.known_sections()[self.section].tdvmcall
            if owner != self.tdvmcall:
                raise field_error(f"section {self.section} is {owner}'s, not {self.tdvmcall}'s", "section")
        from tdxlib.tdx import ghci

        used = set(ghci.LEAVES[self.tdvmcall].inputs)
        seen: set[str] = set()
        for i, arg in enumerate(self.arguments):
            if arg.reg in seen:
                raise field_error(f"register {arg.reg} appears twice", "arguments", i, "register")
            seen.add(arg.reg)
            if arg.action == "added" and arg.reg in used:
                raise field_error(
                    f"{arg.reg} already carries an input of {self.tdvmcall}; pick a free register",
                    "arguments",
                    i,
                    "register",
                )
        return self


# --------------------------------------------------------------------------------------------------
# Guest strategy
# --------------------------------------------------------------------------------------------------


class FallbackParams(BaseModel):
    """A polling fallback for an interrupt strategy (``tdxlib.tdx.strategies.Polling`` parameters)."""

    model_config = _CONFIG

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

    model_config = _CONFIG

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


@functools.cache
def strategy_fields(name: str) -> tuple[str, ...]:
    """Parameter names of the strategy ``name`` (the fields of the class make_strategy builds)."""
    from tdxlib.tdx.strategies import make_strategy

    return tuple(f.name for f in dataclasses.fields(make_strategy(name)))


class StrategySpec(BaseModel):
    """The guest side: a strategy name and parameters (:func:`tdxlib.tdx.strategies.make_strategy`) and
    the guest kernel's vector layout."""

    model_config = _CONFIG

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
                    f"{self.name} has no parameter {key!r}; its parameters: {_one_of(allowed)}", "params", key
                )
        self.build_with({})
        if self.name == "system-vector" and "vector" not in given:
            from tdxlib.kernel.vectors import load_layout

            if "TDX_GUEST_EVENT_NOTIFY_VECTOR" not in load_layout(self.layout).system_vectors():
                raise field_error(
                    f"layout {self.layout} reserves no TDX_GUEST_EVENT_NOTIFY_VECTOR for system-vector; "
                    "use linux-5.19-tdx-v8 or give params.vector",
                    "layout",
                )
        return self

    def build_with(self, extra: dict[str, Any]) -> Any:
        """The strategy object, with ``extra`` parameters (those the strategy has) on top of the file's."""
        from tdxlib.tdx.strategies import make_strategy

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

    model_config = _CONFIG

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

    model_config = _CONFIG

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

    model_config = _CONFIG

    profile: ProfileName
    overrides: VmmOverrides | None = None

    @model_validator(mode="after")
    def _buildable(self) -> VmmSpec:
        self.build(self.profile)
        return self

    def build(self, name: str) -> VmmProfile:
        """The profile with the overrides applied, named ``name`` when there are any."""
        from tdxlib.tdx.vmm import LatencyModel, load_profile

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


# --------------------------------------------------------------------------------------------------
# Annotations and the proposal
# --------------------------------------------------------------------------------------------------


class SpecAnchor(BaseModel):
    """Where an annotation sits: a GHCI section and (optionally) the TDVMCALL it is about."""

    model_config = _CONFIG

    section: SectionId
    tdvmcall: str | None = Field(default=None, description="the section's TDVMCALL, or one the proposal adds")


class Annotation(BaseModel):
    """A note on the spec text, anchored to a section: an ambiguity, a normative change, a question,
    a risk or a decision, with author, date and status. ``evidence`` names suite scenarios to show."""

    model_config = _CONFIG

    anchor: SpecAnchor
    kind: AnnotationKind
    author: Text
    date: Date
    status: AnnotationStatus = "open"
    text: Text
    evidence: list[ScenarioName] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)


class Proposal(BaseModel):
    """A GHCI change, the guest strategy and VMM behaviour that go with it, why, and notes on the text."""

    model_config = _CONFIG

    id: Slug
    title: Text
    status: Status
    base_spec: Annotated[str, StringConstraints(pattern=r"^GHCI \d+\.\d+( .+)?$")] = Field(
        description="the spec version changed, e.g. 'GHCI 1.0'"
    )
    summary: Text
    changes: list[Change] = Field(default_factory=list)
    strategy: StrategySpec
    vmm: VmmSpec
    rationale: list[Rationale] = Field(min_length=1)
    annotations: list[Annotation] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        """``strategy: polling`` and ``vmm: qemu-10.1`` stand for ``{name: ...}`` / ``{profile: ...}``."""
        if isinstance(data, dict):
            data = dict(data)
            if isinstance(data.get("strategy"), str):
                data["strategy"] = {"name": data["strategy"]}
            if isinstance(data.get("vmm"), str):
                data["vmm"] = {"profile": data["vmm"]}
        return data

    @model_validator(mode="after")
    def _anchors(self) -> Proposal:
        added = {c.tdvmcall for c in self.changes if c.leaf == "added"}
        sections = catalog.known_sections()
        for i, note in enumerate(self.annotations):
            call = note.anchor.tdvmcall
            if call is None or call in added:
                continue
            if call not in catalog.tdvmcall_names():
                raise field_error(
                    f"TDVMCALL {call!r} is neither a leaf of data/ghci/leaves.yaml nor added by this "
                    f"proposal (known: {_one_of(catalog.tdvmcall_names())})",
                    "annotations",
                    i,
                    "anchor",
                    "tdvmcall",
                )
            owner = sections[note.anchor.section].tdvmcall
            if owner != call:
                raise field_error(
                    f"section {note.anchor.section} is {owner}'s, not {call}'s",
                    "annotations",
                    i,
                    "anchor",
                    "tdvmcall",
                )
        return self

    # ------------------------------------------------------------------ derived

    def vmm_profile(self) -> VmmProfile:
        """The VMM behaviour the proposal specifies (named ``<profile>.<id>`` when overridden)."""
        return self.vmm.build(f"{self.vmm.profile}.{self.id}")

    def build_strategy(self, extra: dict[str, Any] | None = None) -> Any:
        """The guest strategy (``extra`` parameters, where the strategy has them, on top)."""
        return self.strategy.build_with(dict(extra or {}))

    def spec_elements(self) -> dict[str, int]:
        """What the change costs the spec: new arguments and leaves, removed ones, wording changes."""
        args = [a for c in self.changes for a in c.arguments]
        return {
            "new_arguments": sum(a.action == "added" for a in args),
            "changed_arguments": sum(a.action == "changed" for a in args),
            "new_leaves": sum(c.leaf == "added" for c in self.changes),
            "removed_elements": sum(c.leaf == "removed" for c in self.changes)
            + sum(a.action == "removed" for a in args),
            "wording_changes": sum(len(c.wording) for c in self.changes),
            "targeting_rules": sum(c.targeting is not None for c in self.changes),
        }

    def sections(self) -> list[str]:
        """Section numbers the changes and annotations touch, in section order."""
        used = {c.section for c in self.changes if c.section} | {a.anchor.section for a in self.annotations}
        return [s for s in catalog.known_sections() if s in used]


def schema_json() -> str:
    """The JSON Schema of :class:`Proposal` as committed in data/proposals/schema.json."""
    schema = Proposal.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://tdxlib.invalid/data/proposals/schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
