"""Scenario suites (``data/proposals/meta/suites.yaml``): the situations every proposal is evaluated in.

A suite crosses named scenarios (guest shape and workload: fields of :class:`tdxlib.sim.Scenario`,
plus strategy parameters such as ``reregister: false`` applied where the proposal's strategy has
them) with VMMs (the proposal's own, role ``proposal``, and shipped profiles) and seeds, on one guest
kernel profile (``kernel``; the proposal's ``layout`` overrides its vector layout). The strategy, VMM,
kernel, layout and seed of a scenario come from the proposal and the suite, never from the scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from tdxlib.argument.proposals import catalog
from tdxlib.argument.proposals.behaviour import StrategyParams
from tdxlib.argument.proposals.fields import ProfileName, field_error
from tdxlib.cache import memo, stat_key
from tdxlib.data import load_yaml
from tdxlib.errors import TdxlibError, ValidationError
from tdxlib.kernel.profile import kernel_names
from tdxlib.models import validate
from tdxlib.sim import Scenario

__all__ = ["Suite", "SuiteScenario", "SuiteVmm", "SuitesFile", "load_suites", "suite", "suite_names"]

_CONFIG = ConfigDict(extra="forbid", strict=True, frozen=True)
#: Scenario fields a suite may not set: the proposal and the suite decide them.
RESERVED = ("strategy", "vmm", "kernel", "layout", "seed")


class SuiteVmm(BaseModel):
    """One VMM of a suite: the proposal's own (``role: proposal``) or a shipped profile."""

    model_config = _CONFIG

    role: Literal["proposal"] | None = None
    profile: ProfileName | None = None
    kind: Literal["proposal", "spec-text", "real", "other"] = "other"

    @model_validator(mode="after")
    def _one(self) -> SuiteVmm:
        if (self.role is None) == (self.profile is None):
            raise field_error("give exactly one of role: proposal or profile: NAME")
        if self.role is not None and self.kind == "other":
            object.__setattr__(self, "kind", "proposal")
        return self

    @property
    def label(self) -> str:
        """``proposal`` or the profile name: the row label shared by every proposal."""
        return self.role or str(self.profile)


class SuiteScenario(BaseModel):
    """A named situation: Scenario fields, strategy parameters to apply, a title and why it is there.

    ``misuse``: the guest breaks the proposal's protocol here (e.g. never re-registers); such rows
    stay out of the verdict table's summary rows."""

    model_config = _CONFIG

    title: str
    why: str
    scenario: dict[str, Any]
    misuse: bool = False
    strategy_params: StrategyParams = StrategyParams()

    @model_validator(mode="after")
    def _valid_scenario(self) -> SuiteScenario:
        for key in self.scenario:
            if key in RESERVED:
                raise field_error(
                    f"{key} comes from the proposal and the suite, not the scenario", "scenario", key
                )
        try:
            Scenario.from_dict(self.scenario)
        except TdxlibError as exc:
            what = getattr(exc, "what", "")
            key = what.split(" ")[0].split(".")[0] if what else ""
            sub = ("scenario", key) if key in self.scenario else ("scenario",)
            raise field_error(str(exc), *sub) from None
        return self


class Suite(BaseModel):
    """A suite: scenarios × VMMs × seeds."""

    model_config = _CONFIG

    description: str
    kernel: str = Field(description="the guest kernel profile (data/kernels) every scenario runs on")
    seeds: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)
    vmms: list[SuiteVmm] = Field(min_length=1)
    scenarios: dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")], SuiteScenario] = (
        Field(min_length=1)
    )

    @model_validator(mode="after")
    def _known_kernel(self) -> Suite:
        if self.kernel not in kernel_names():
            known = ", ".join(kernel_names())
            raise field_error(f"unknown kernel profile {self.kernel!r}; known: {known}", "kernel")
        return self

    def real_vmms(self) -> list[str]:
        """Labels of the VMMs marked ``kind: real``."""
        return [v.label for v in self.vmms if v.kind == "real"]


SuiteName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]


class SuitesFile(BaseModel):
    """``data/proposals/meta/suites.yaml``: the suites by name."""

    model_config = _CONFIG

    suites: dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")], Suite] = Field(
        min_length=1
    )


def _own_copies(suites: dict[str, Suite]) -> dict[str, Suite]:
    """Deep copies: a Suite is frozen, but its lists and mappings are not, and each caller gets its own."""
    return {name: s.model_copy(deep=True) for name, s in suites.items()}


def load_suites() -> dict[str, Suite]:
    """Every suite of data/proposals/meta/suites.yaml, validated (DataError naming file, line, field);
    read again when the file changed."""
    return _suites_in(stat_key(catalog.SUITES_PATH))


@memo(maxsize=4, copy=_own_copies)
def _suites_in(stat: tuple[tuple[str, int, int], ...]) -> dict[str, Suite]:
    """The suites of the file ``stat`` names (its stat_key is the cache key)."""
    path = Path(stat[0][0])
    return dict(validate(SuitesFile, load_yaml(path), path, what="a suites file").suites)


def suite_names() -> list[str]:
    """Names of the suites (``default`` first)."""
    return list(load_suites())


def suite(name: str | Suite) -> Suite:
    """A suite by name (or itself)."""
    if isinstance(name, Suite):
        return name
    suites = load_suites()
    if name not in suites:
        raise ValidationError("suite", name, f"one of {', '.join(suites)}")
    return suites[name]
