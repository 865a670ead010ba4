"""The field types of the proposal format: literal choices, constrained strings, and names that refer
to other data (a GHCI section, a TDVMCALL, a VMM profile, a vector layout, a suite scenario), checked
against :mod:`~tdxlib.argument.proposals.catalog` when a file is validated and listed from the data in
the JSON schema; and :func:`field_error`, which makes a cross-field rule's error point at its field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from tdxlib import values
from tdxlib.argument.proposals import catalog
from tdxlib.values import field_error

__all__ = [
    "CONFIG",
    "NEW_NAME",
    "AnnotationKind",
    "AnnotationStatus",
    "Date",
    "GetQuoteChecks",
    "LayoutName",
    "ProfileName",
    "Register",
    "ScenarioName",
    "SectionId",
    "Slug",
    "Status",
    "StrategyName",
    "TdvmcallName",
    "Text",
    "Vector",
    "field_error",
    "one_of",
]

# --------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------

#: Every model of the format: unknown fields are errors, no silent coercion, values are frozen.
CONFIG = ConfigDict(extra="forbid", strict=True, frozen=True)

Text = Annotated[str, StringConstraints(min_length=1)]
Date = Annotated[values.Date, Field(description="ISO date, e.g. 2022-06-20")]
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


def one_of(values: tuple[str, ...]) -> str:
    """``a, b, c``: the known values, as an error message lists them."""
    return ", ".join(values)


# --------------------------------------------------------------------------------------------------
# Names checked against the data
# --------------------------------------------------------------------------------------------------


def _unknown(kind: str, message: str) -> PydanticCustomError:
    """An 'unknown name' error with a ready-made message (names the value and what is known)."""
    return PydanticCustomError(kind, "{message}", {"message": message})


def _check_section(value: str) -> str:
    if value not in catalog.known_sections():
        known = one_of(tuple(catalog.known_sections()))
        raise _unknown(
            "unknown_section",
            f"GHCI section {value!r} is not in data/proposals/meta/sections.yaml; known: {known}",
        )
    return value


def _check_tdvmcall(value: str) -> str:
    if value not in catalog.tdvmcall_names():
        known = one_of(catalog.tdvmcall_names())
        raise _unknown(
            "unknown_tdvmcall", f"TDVMCALL {value!r} is not a leaf of data/ghci/leaves.yaml; known: {known}"
        )
    return value


def _check_profile(value: str) -> str:
    if value not in catalog.vmm_profile_names():
        known = one_of(catalog.vmm_profile_names())
        raise _unknown("unknown_profile", f"VMM profile {value!r} is not in data/vmm/; known: {known}")
    return value


def _check_layout(value: str) -> str:
    if value not in catalog.layout_names():
        known = one_of(catalog.layout_names())
        raise _unknown("unknown_layout", f"vector layout {value!r} is not in data/vectors/; known: {known}")
    return value


def _check_scenario(value: str) -> str:
    if value not in catalog.suite_scenario_names():
        known = one_of(catalog.suite_scenario_names())
        raise _unknown(
            "unknown_scenario",
            f"scenario {value!r} is defined by no suite of data/proposals/meta/suites.yaml; known: {known}",
        )
    return value


@dataclass(frozen=True)
class _Names:
    """The JSON schema of a checked name: a string enum of the names the data holds when the schema is
    generated (not when this module is imported: importing reads no data file)."""

    names: Callable[[], Iterable[str]]
    description: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "enum": list(self.names()), "description": self.description}


SectionId = Annotated[
    str,
    AfterValidator(_check_section),
    _Names(catalog.known_sections, "a GHCI section of data/proposals/meta/sections.yaml"),
]
TdvmcallName = Annotated[
    str,
    AfterValidator(_check_tdvmcall),
    _Names(catalog.tdvmcall_names, "a TDVMCALL of data/ghci/leaves.yaml"),
]
ProfileName = Annotated[
    str, AfterValidator(_check_profile), _Names(catalog.vmm_profile_names, "a VMM profile of data/vmm/")
]
LayoutName = Annotated[
    str, AfterValidator(_check_layout), _Names(catalog.layout_names, "a vector layout of data/vectors/")
]
ScenarioName = Annotated[
    str,
    AfterValidator(_check_scenario),
    _Names(catalog.suite_scenario_names, "a scenario of data/proposals/meta/suites.yaml"),
]
