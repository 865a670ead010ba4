"""The spec-proposal format: pydantic models, the single source of truth (``data/proposals/schema.json``
is generated from :class:`Proposal` by :func:`schema_json`).

A proposal states a GHCI change the way a spec writer thinks of it — per TDVMCALL, the arguments
added or changed (with their registers), the normative wording changed ("can" → "must"), the VMM's
targeting rule — and pairs it with the guest strategy that would use it and the VMM behaviour that
would implement it (:mod:`~tdxlib.argument.proposals.behaviour`). Rationale carries citations;
annotations are anchored to a GHCI section and TDVMCALL. Models are strict (no silent coercion of
``"4"`` to 4) and forbid unknown fields (field types: :mod:`~tdxlib.argument.proposals.fields`).
Cross-field rules (a parameter the strategy does not have, a section whose TDVMCALL differs from the
anchor's) raise errors that carry the exact field path, so a file error names the line (see
:mod:`tdxlib.argument.proposals.load`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from tdxlib.argument.proposals import catalog
from tdxlib.argument.proposals.behaviour import (
    LatencySpec,
    StrategyParams,
    StrategySpec,
    VmmOverrides,
    VmmSpec,
)
from tdxlib.argument.proposals.fields import (
    CONFIG,
    NEW_NAME,
    AnnotationKind,
    AnnotationStatus,
    Date,
    Register,
    ScenarioName,
    SectionId,
    Slug,
    Status,
    StrategyName,
    Text,
    field_error,
    one_of,
)
from tdxlib.models import schema_text
from tdxlib.tdx import ghci
from tdxlib.tdx.vmm import Target, VmmProfile

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
    "StrategyName",
    "StrategyParams",
    "StrategySpec",
    "VmmOverrides",
    "VmmSpec",
    "WordingChange",
    "field_error",
    "schema_json",
]

# --------------------------------------------------------------------------------------------------
# Citations
# --------------------------------------------------------------------------------------------------


class Source(BaseModel):
    """A citation: a mail (Message-ID), a spec section, a commit or a URL, with author and date."""

    model_config = CONFIG

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

    model_config = CONFIG

    point: Text
    sources: list[Source] = Field(min_length=1)


# --------------------------------------------------------------------------------------------------
# Changes
# --------------------------------------------------------------------------------------------------


class ArgumentChange(BaseModel):
    """An argument of a TDVMCALL added, changed or removed, with its register."""

    model_config = CONFIG

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

    model_config = CONFIG

    before: Text
    after: Text
    statement: Text


class Change(BaseModel):
    """What the proposal changes in one TDVMCALL: leaf, arguments, wording, VMM targeting rule."""

    model_config = CONFIG

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
                f"(known: {one_of(known)}); set leaf: added for a new one",
                "tdvmcall",
            )
        if self.section is not None:
            owner = catalog.known_sections()[self.section].tdvmcall
            if owner != self.tdvmcall:
                raise field_error(f"section {self.section} is {owner}'s, not {self.tdvmcall}'s", "section")
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
# Annotations and the proposal
# --------------------------------------------------------------------------------------------------


class SpecAnchor(BaseModel):
    """Where an annotation sits: a GHCI section and (optionally) the TDVMCALL it is about."""

    model_config = CONFIG

    section: SectionId
    tdvmcall: str | None = Field(default=None, description="the section's TDVMCALL, or one the proposal adds")


class Annotation(BaseModel):
    """A note on the spec text, anchored to a section: an ambiguity, a normative change, a question,
    a risk or a decision, with author, date and status. ``evidence`` names suite scenarios to show."""

    model_config = CONFIG

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

    model_config = CONFIG

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
                    f"proposal (known: {one_of(catalog.tdvmcall_names())})",
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
    return schema_text(Proposal, "https://tdxlib.invalid/data/proposals/schema.json")
