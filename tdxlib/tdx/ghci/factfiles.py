"""The shapes of the four files of ``data/ghci/`` as pydantic models (``tdxlib schema ghci-leaves``, ...).

:mod:`~tdxlib.tdx.ghci.facts` validates each file with its model through :mod:`tdxlib.models` (errors
name file, line and field), then checks what spans files: every ``sources`` entry is a key of
``sources.yaml``, the header fields are contiguous, each GetQuote check names a TDVMCALL status.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from tdxlib.models import Model
from tdxlib.values import Int, Str, Text

__all__ = ["U32", "U32_MAX", "U64", "U64_MAX", "GetQuoteFile", "LeavesFile", "SourcesFile", "StatusFile"]

U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1

U64 = Annotated[Int, Field(ge=0, le=U64_MAX)]
U32 = Annotated[Int, Field(ge=0, le=U32_MAX)]
#: Keys of sources.yaml this value comes from.
Refs = Annotated[list[Text], Field(min_length=1)]


class Source(Model):
    """A source cited by data/ghci and data/vmm: what it is, where, and whether we read it."""

    title: Text
    ref: Text
    sections: Str = ""
    status: Str = ""


class SourcesFile(Model):
    """``sources.yaml``."""

    sources: Annotated[dict[Str, Source], Field(min_length=1)]


class LeafEntry(Model):
    """One TDVMCALL leaf (R11): the kernel's constant, the spec section and the registers it uses."""

    constant: Text
    leaf: U64
    section: Text
    inputs: dict[Str, Str]
    outputs: dict[Str, Str]
    sources: Refs
    note: Str = ""


class LeavesFile(Model):
    """``leaves.yaml``: the leaves by their GHCI names."""

    leaves: Annotated[dict[Str, LeafEntry], Field(min_length=1)]


class StatusEntry(Model):
    """A status value with its kernel constant, meaning and sources."""

    constant: Text
    value: U64
    meaning: Text
    sources: Refs


class StatusFile(Model):
    """``status.yaml``: TDVMCALL (R10) statuses and GetQuote header statuses."""

    tdvmcall: list[StatusEntry]
    get_quote: list[StatusEntry]


class HeaderEntry(Model):
    """One field of ``struct tdx_quote_buf``."""

    field: Text
    offset: U32
    type: Literal["u64", "u32"]
    filled_by: Text
    note: Str


class Limit(Model):
    """An argument limit of GetQuote (alignment, sizes, in-flight requests, timeouts)."""

    value: U32
    meaning: Text
    sources: Refs


class SharedBit(Model):
    """The GPA bit that marks shared memory, by guest physical address width."""

    default: Annotated[Int, Field(ge=0, le=63)]
    by_gpaw: dict[Annotated[Int, Field(ge=1, le=64)], Annotated[Int, Field(ge=0, le=63)]]
    meaning: Str = ""
    sources: Refs


class EventNotify(Model):
    """The vector range of SetupEventNotifyInterrupt and its GetTdVmCallInfo bit."""

    vector_min: Annotated[Int, Field(ge=0, le=255)]
    vector_max: Annotated[Int, Field(ge=0, le=255)]
    meaning: Str = ""
    getinfo_leaf1_r11_bit: Annotated[Int, Field(ge=0, le=63)] | None = None
    sources: Refs


class CheckEntry(Model):
    """One GetQuote argument check at the VMM boundary and the status it yields."""

    check: Text
    status: Text
    where: Str
    sources: Refs


class GetQuoteFile(Model):
    """``get_quote.yaml``: the buffer header, limits, shared bit, vector range and checks."""

    header: Annotated[list[HeaderEntry], Field(min_length=1)]
    header_size: U32
    data_offset: U32
    structure_version: U64
    sources: Refs
    limits: dict[Str, Limit]
    shared_bit: SharedBit
    event_notify: EventNotify
    get_quote_checks: list[CheckEntry]
