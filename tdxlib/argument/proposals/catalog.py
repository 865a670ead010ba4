"""What a proposal may name: GHCI sections, TDVMCALLs, strategies, VMM profiles, layouts, suite scenarios.

Each list comes from data (``data/proposals/meta/sections.yaml``, ``data/ghci/leaves.yaml``, ``data/vmm/``,
``data/vectors/``, ``data/proposals/meta/suites.yaml``) or from the module that owns the names, so the schema
and its JSON form follow the data. What is read here is cached on the file's size and modification time
(:func:`tdxlib.cache.stat_key`): a file edited in a running session is read again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from tdxlib.cache import memo, stat_key
from tdxlib.data import data_path, load_yaml
from tdxlib.errors import DataError
from tdxlib.kernel.vectors import layout_names as _layout_names
from tdxlib.models import Model, line_for, validate
from tdxlib.tdx import ghci
from tdxlib.tdx.strategies import STRATEGY_NAMES
from tdxlib.tdx.vmm import profile_names
from tdxlib.values import Pattern, Str, Text

__all__ = [
    "PROPOSALS_DIR",
    "SECTIONS_PATH",
    "SUITES_PATH",
    "SectionsFile",
    "SpecSection",
    "builtin_paths",
    "known_sections",
    "layout_names",
    "strategy_names",
    "suite_scenario_names",
    "tdvmcall_names",
    "vmm_profile_names",
]

#: Where the built-in proposals live (every *.yaml here is one).
PROPOSALS_DIR: Path = data_path("proposals")
#: The GHCI sections anchors may name, and the scenario suites.
SECTIONS_PATH: Path = PROPOSALS_DIR / "meta" / "sections.yaml"
SUITES_PATH: Path = PROPOSALS_DIR / "meta" / "suites.yaml"


@dataclass(frozen=True)
class SpecSection:
    """A GHCI section an annotation can be anchored to: number, title, its TDVMCALL, our paraphrase."""

    number: str
    title: str
    tdvmcall: str
    spec: str
    summary: str
    source: str

    @property
    def label(self) -> str:
        """``3.5 TDG.VP.VMCALL<SetupEventNotifyInterrupt>``."""
        return f"{self.number} {self.title}"


class SectionEntry(Model):
    """``sections.NUMBER``: a GHCI section's title, its TDVMCALL, the spec and our paraphrase."""

    title: Text
    tdvmcall: Text
    spec: Text
    summary: Text
    source: Text


SectionNumber = Annotated[Str, Pattern(r"\d+(\.\d+)*", "a quoted section number like '3.5'")]


class SectionsFile(Model):
    """``data/proposals/meta/sections.yaml``: the GHCI sections anchors may name, by number."""

    sections: dict[
        Annotated[Str, Pattern(r"\d+(\.\d+)*", "a quoted section number like '3.5'")], SectionEntry
    ]


def _section_key(number: str) -> tuple[int, ...]:
    return tuple(int(p) for p in number.split(".") if p.isdigit())


def known_sections() -> dict[str, SpecSection]:
    """The GHCI sections of data/proposals/meta/sections.yaml, by number, in section order (a fresh
    dict each call; the file is read again when it changed)."""
    return _sections(stat_key(SECTIONS_PATH), tdvmcall_names())


@memo(maxsize=4, copy=dict)
def _sections(stat: tuple[tuple[str, int, int], ...], names: tuple[str, ...]) -> dict[str, SpecSection]:
    """The sections of the file ``stat`` names, each checked against the TDVMCALL ``names``."""
    path = Path(stat[0][0])
    raw = load_yaml(path)
    doc = validate(SectionsFile, raw, path, what="a sections file")
    out: dict[str, SpecSection] = {}
    for number, m in doc.sections.items():
        if m.tdvmcall not in names:
            raise DataError(
                f"section {number}: tdvmcall {m.tdvmcall!r} is not a leaf of data/ghci/leaves.yaml "
                f"(one of {sorted(names)})",
                path,
                line_for(raw, ("sections", number, "tdvmcall")),
                f"sections.{number}.tdvmcall",
            )
        out[number] = SpecSection(number=number, **m.model_dump())
    return dict(sorted(out.items(), key=lambda kv: _section_key(kv[0])))


def tdvmcall_names() -> tuple[str, ...]:
    """TDVMCALL leaf names of data/ghci/leaves.yaml (``GetQuote``, ``SetupEventNotifyInterrupt``, ...)."""
    return tuple(ghci.LEAVES)


def strategy_names() -> tuple[str, ...]:
    """Guest strategy names accepted by :func:`tdxlib.tdx.strategies.make_strategy`."""
    return STRATEGY_NAMES


def vmm_profile_names() -> tuple[str, ...]:
    """Shipped VMM profile names (data/vmm/*.yaml)."""
    return tuple(profile_names())


def layout_names() -> tuple[str, ...]:
    """Guest vector layouts (data/vectors/*.yaml)."""
    return tuple(_layout_names())


def suite_scenario_names() -> tuple[str, ...]:
    """Every scenario name defined by some suite of data/proposals/meta/suites.yaml (for ``evidence:``)."""
    return _scenario_names(stat_key(SUITES_PATH))


@memo(maxsize=4)
def _scenario_names(stat: tuple[tuple[str, int, int], ...]) -> tuple[str, ...]:
    """The scenario names of the suites file ``stat`` names."""
    doc = load_yaml(stat[0][0])
    names: set[str] = set()
    suites = doc.get("suites", {}) if isinstance(doc, dict) else {}
    for suite in suites.values() if isinstance(suites, dict) else ():
        scenarios = suite.get("scenarios", {}) if isinstance(suite, dict) else {}
        if isinstance(scenarios, dict):
            names.update(str(k) for k in scenarios)
    return tuple(sorted(names))


def builtin_paths() -> dict[str, Path]:
    """Built-in proposal files (data/proposals/*.yaml), by file stem."""
    return {p.stem: p for p in sorted(PROPOSALS_DIR.glob("*.yaml"))}
