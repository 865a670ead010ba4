"""``tdxlib schema KIND``: the JSON Schema of each file kind tdxlib reads, generated from its pydantic model.

:data:`KINDS` is the one list of file kinds: the model that validates them, where their shipped schema
lives (under ``data/``) and which shipped files are of that kind (each starts with a
``# yaml-language-server: $schema=...`` line pointing at that schema, so editors validate it as the
user types). ``tdxlib schema --check`` fails when a shipped schema is out of date, ``--update``
rewrites them. Light at import: the models load when the command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "Kind", "kind", "print_or_write", "register", "schema_of"]


@dataclass(frozen=True)
class Kind:
    """One kind of file: its model (``module:Class``), its schema under ``data/``, its shipped files."""

    name: str
    model: str
    schema: str  # relative to data/
    files: tuple[str, ...]  # globs relative to the checkout (data/..., notebooks/...)
    what: str
    but: tuple[str, ...] = ()  # files the globs match that are of another kind

    def holds(self, relative: Path) -> bool:
        """Whether the shipped file at ``relative`` (to the checkout) is of this kind."""
        return any(relative.match(g) for g in self.files) and not any(relative.match(g) for g in self.but)

    def load_model(self) -> Any:
        """The model class (imports its module: pydantic and the layer it lives in)."""
        module, _, attr = self.model.partition(":")
        return getattr(importlib.import_module(module), attr)

    @property
    def schema_id(self) -> str:
        """The ``$id`` of the schema: where it lives in the checkout."""
        return f"https://tdxlib.invalid/data/{self.schema}"


KINDS: tuple[Kind, ...] = (
    Kind(
        "scenario",
        "tdxlib.sim.scenario:Scenario",
        "schemas/scenario.json",
        (),
        "a scenario (tdxlib sim --scenario)",
    ),
    Kind(
        "kernel-profile",
        "tdxlib.kernel.profile:KernelProfile",
        "schemas/kernel-profile.json",
        ("data/kernels/*.yaml",),
        "a guest kernel profile",
        but=("data/kernels/sources.yaml",),
    ),
    Kind(
        "kernel-sources",
        "tdxlib.kernel.profile:KernelSources",
        "schemas/kernel-sources.json",
        ("data/kernels/sources.yaml",),
        "the sources the kernel profiles cite",
    ),
    Kind(
        "vmm-profile",
        "tdxlib.tdx.vmm.profile:VmmProfile",
        "schemas/vmm-profile.json",
        ("data/vmm/*.yaml",),
        "a host VMM profile",
    ),
    Kind(
        "vector-layout",
        "tdxlib.kernel.vectors.spec:LayoutFile",
        "schemas/vector-layout.json",
        ("data/vectors/*.yaml",),
        "an x86 vector layout of a kernel",
    ),
    Kind(
        "ghci-sources",
        "tdxlib.tdx.ghci.factfiles:SourcesFile",
        "schemas/ghci-sources.json",
        ("data/ghci/sources.yaml",),
        "the sources the GHCI facts cite",
    ),
    Kind(
        "ghci-leaves",
        "tdxlib.tdx.ghci.factfiles:LeavesFile",
        "schemas/ghci-leaves.json",
        ("data/ghci/leaves.yaml",),
        "the TDVMCALL leaves",
    ),
    Kind(
        "ghci-status",
        "tdxlib.tdx.ghci.factfiles:StatusFile",
        "schemas/ghci-status.json",
        ("data/ghci/status.yaml",),
        "the TDVMCALL and GetQuote status codes",
    ),
    Kind(
        "ghci-get-quote",
        "tdxlib.tdx.ghci.factfiles:GetQuoteFile",
        "schemas/ghci-get-quote.json",
        ("data/ghci/get_quote.yaml",),
        "the GetQuote buffer and limits",
    ),
    Kind(
        "claims",
        "tdxlib.argument.claims.registry:ClaimsFile",
        "schemas/claims.json",
        ("data/claims/claims.yaml",),
        "the claims of the thread",
    ),
    Kind(
        "proposal",
        "tdxlib.argument.proposals.schema:Proposal",
        "proposals/schema.json",
        ("data/proposals/*.yaml",),
        "a GHCI spec proposal",
    ),
    Kind(
        "proposal-suites",
        "tdxlib.argument.proposals.suites:SuitesFile",
        "schemas/proposal-suites.json",
        ("data/proposals/meta/suites.yaml",),
        "the scenario suites proposals are evaluated in",
    ),
    Kind(
        "proposal-sections",
        "tdxlib.argument.proposals.catalog:SectionsFile",
        "schemas/proposal-sections.json",
        ("data/proposals/meta/sections.yaml",),
        "the GHCI sections a proposal may name",
    ),
    Kind(
        "capture-manifest",
        "tdxlib.ingest.captures:CaptureManifest",
        "schemas/capture-manifest.json",
        ("data/captures/*/manifest.yaml",),
        "a capture's manifest.yaml",
    ),
    Kind(
        "sweep",
        "tdxlib.sweeps.spec:SweepSpec",
        "schemas/sweep.json",
        ("data/sweeps/*.yaml",),
        "a sweep across the design space (tdxlib sweep)",
    ),
    Kind(
        "reports",
        "tdxlib.report.config:ReportsFile",
        "schemas/reports.json",
        ("notebooks/reports.yaml",),
        "notebooks/reports.yaml",
    ),
)


def kind(name: str) -> Kind:
    """The kind called ``name``; a usage error lists the kinds."""
    for k in KINDS:
        if k.name == name:
            return k
    raise argparse.ArgumentTypeError(f"{name!r}: no such kind; kinds: {', '.join(k.name for k in KINDS)}")


def schema_of(k: Kind) -> str:
    """The schema text of ``k`` as its shipped file holds it."""
    # pydantic and the model's layer: only when a schema is asked for
    from tdxlib.models import schema_text

    return schema_text(k.load_model(), k.schema_id)


def register(subparsers: Any) -> None:
    """Add the ``schema`` sub-command to the tdxlib CLI."""
    p = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of a file kind (scenario, vmm-profile, ..., reports)",
        description="Print the JSON Schema of a kind of file tdxlib reads (generated from the pydantic model "
        "that validates it), write it to FILE, or check or update the shipped schemas under data/. "
        "Without KIND: list the kinds.",
    )
    p.add_argument("kind", nargs="?", type=kind, metavar="KIND", help="the file kind")
    p.add_argument("--out", metavar="FILE", help="write the schema here instead of printing it")
    p.add_argument("--force", action="store_true", help="with --out: replace an existing FILE")
    p.add_argument("--check", action="store_true", help="exit 1 when a shipped schema is out of date")
    p.add_argument("--update", action="store_true", help="rewrite the shipped schemas under data/")
    p.set_defaults(func=run)


def _shipped(check: bool) -> int:
    # the data folder and the writer: only when shipped schemas are checked or written
    from tdxlib.data import DATA_DIR
    from tdxlib.files import atomic_write_text

    stale = 0
    for k in KINDS:
        path = DATA_DIR / k.schema
        text = schema_of(k)
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if check:
            stale += 1
            print(f"{path}: out of date (kind {k.name}); run tdxlib schema --update", file=sys.stderr)
        else:
            atomic_write_text(path, text)
            print(f"wrote {path}")
    return 1 if stale else 0


def run(args: argparse.Namespace) -> int:
    """List the kinds, print or write one schema, or check or update the shipped ones."""
    if args.check or args.update:
        return _shipped(check=args.check)
    if args.kind is None:
        width = max(len(k.name) for k in KINDS)
        for k in KINDS:
            print(f"{k.name:<{width}}  {k.what}  (data/{k.schema})")
        return 0
    return print_or_write(schema_of(args.kind), args.out, force=args.force)


def print_or_write(text: str, out: str | None, *, force: bool) -> int:
    """A schema to stdout, or to ``out`` (never over a file unless ``force``); the exit status."""
    if out:
        # the writer: only when a file is written
        from tdxlib.files import write_requested

        write_requested(Path(out), text, force=force, what="schema file")
        print(f"wrote {out}")
        return 0
    sys.stdout.write(text)
    return 0
