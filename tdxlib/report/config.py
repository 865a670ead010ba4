"""``notebooks/reports.yaml``: which notebooks run with which named parameter sets, validated up front.

Format (documented in reports/README.md)::

    timeout: 600                  # optional: seconds per cell
    kernel: tdxlib                # optional: Jupyter kernel name
    notebooks:
      01_the_question:            # notebooks/01_the_question.ipynb, run once with its defaults
      02_vector_budget:           # one run per named set: "<notebook>--<set>"
        small-td: {cpus: 8}
        server-1024: {cpus: 1024}
    reduced:                      # optional: what ``--reduced`` runs (tests): a set name, or overrides
      02_vector_budget: small-td

A set named ``default`` gives the run the notebook's own name. Every set is checked before anything
executes (:class:`~tdxlib.report.params.ParameterError`): against the notebook's parameter model
(:mod:`tdxlib.workbook.params`) when it has one, else against its parameters cell.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tdxlib.data import load_yaml
from tdxlib.errors import DataError, ReportError
from tdxlib.report.params import ModelParameters, ParameterError, ParametersCell, notebook_parameters

#: The parameter the pipeline sets on every run (headless): notebooks declare ``interactive: bool``.
INTERACTIVE = "interactive"
DEFAULT_TIMEOUT = 600.0
DEFAULT_KERNEL = "tdxlib"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_TOP_KEYS = {"timeout", "kernel", "notebooks", "reduced"}


@dataclass(frozen=True)
class Run:
    """One notebook executed with one named parameter set."""

    name: str  # "<notebook>" for the set "default", else "<notebook>--<set>"
    notebook: str  # stem, e.g. "02_vector_budget"
    set_name: str
    path: Path  # the .ipynb
    parameters: dict[str, Any]  # what papermill injects (the set plus interactive=False when declared)
    overrides: dict[str, Any]  # the set as written in reports.yaml


@dataclass(frozen=True)
class ReportConfig:
    """The parsed reports.yaml: settings and every run (validated)."""

    path: Path
    runs: list[Run]
    timeout: float = DEFAULT_TIMEOUT
    kernel: str = DEFAULT_KERNEL
    reduced_runs: list[Run] = field(default_factory=list)

    @property
    def root(self) -> Path:
        """The project directory: the parent of the notebooks directory holding reports.yaml."""
        return self.path.resolve().parent.parent

    def select(self, only: Sequence[str] | None = None, reduced: bool = False) -> list[Run]:
        """Runs matching ``only`` (notebook names, run names or glob patterns); all when empty."""
        runs = self.reduced_runs if reduced else self.runs
        if not only:
            return list(runs)
        chosen = [
            r
            for r in runs
            if any(pat in (r.name, r.notebook) or fnmatch.fnmatchcase(r.name, pat) for pat in only)
        ]
        unmatched = [
            pat
            for pat in only
            if not any(pat in (r.name, r.notebook) or fnmatch.fnmatchcase(r.name, pat) for r in runs)
        ]
        if unmatched:
            known = ", ".join(r.name for r in runs) or "none"
            raise ReportError(f"--only {', '.join(unmatched)}: no such run; runs are: {known}")
        return chosen


def run_name(notebook: str, set_name: str) -> str:
    """The file stem of a run's reports: the notebook, plus ``--<set>`` unless the set is ``default``."""
    return notebook if set_name == "default" else f"{notebook}--{set_name}"


def read_notebook_json(path: Path) -> dict[str, Any]:
    """A notebook file as plain JSON (no nbformat: keeps a no-op build fast)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError("notebook not found", path) from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"not a notebook (invalid JSON: {exc.msg})", path, exc.lineno) from exc
    if not isinstance(data, dict) or "cells" not in data:
        raise DataError("not a notebook (no 'cells')", path)
    return data


def _sets(entry: Any, where: str) -> dict[str, dict[str, Any]]:
    if entry is None:
        return {"default": {}}
    if not isinstance(entry, Mapping) or not entry:
        raise ReportError(f"{where}: expected a mapping of set name -> parameters (or nothing)")
    sets: dict[str, dict[str, Any]] = {}
    for set_name, values in entry.items():
        if not isinstance(set_name, str) or not _NAME.match(set_name):
            raise ReportError(f"{where}: set name {set_name!r} must match {_NAME.pattern}")
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise ReportError(f"{where}, set {set_name!r}: expected a mapping of parameter -> value")
        try:  # plain JSON values: what papermill injects and what the cache key hashes
            sets[set_name] = json.loads(json.dumps({str(k): v for k, v in values.items()}))
        except (TypeError, ValueError) as exc:
            raise ReportError(
                f"{where}, set {set_name!r}: values must be plain YAML scalars/lists/maps: {exc}"
            ) from None
    return sets


def _make_run(
    notebook: str,
    set_name: str,
    overrides: dict[str, Any],
    path: Path,
    cell: ParametersCell | ModelParameters,
) -> tuple[Run, list[str]]:
    problems = cell.problems(overrides, set_name)
    if INTERACTIVE in overrides:
        problems.append(
            f"{path.name}, parameter set {set_name!r}: {INTERACTIVE!r} is set by the pipeline "
            "(always False); remove it"
        )
    params = dict(overrides)
    if INTERACTIVE in cell.parameters:
        params[INTERACTIVE] = False
    run = Run(run_name(notebook, set_name), notebook, set_name, path, params, dict(overrides))
    return run, problems


def load_config(path: Path | str) -> ReportConfig:
    """Read reports.yaml and check every parameter set; raises ParameterError before anything runs."""
    path = Path(path)
    if not path.is_file():
        raise DataError("reports config not found", path)
    doc = load_yaml(path) or {}
    if not isinstance(doc, Mapping):
        raise DataError("expected a mapping with 'notebooks:'", path)
    line_of = getattr(doc, "line_of", lambda _k: None)
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        key = sorted(unknown, key=str)[0]
        raise DataError(f"unknown key {key!r}; allowed: {', '.join(sorted(_TOP_KEYS))}", path, line_of(key))
    timeout = doc.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise DataError(f"timeout = {timeout!r}; expected seconds > 0", path, line_of("timeout"))
    kernel = doc.get("kernel", DEFAULT_KERNEL)
    if not isinstance(kernel, str) or not kernel:
        raise DataError(f"kernel = {kernel!r}; expected a kernel name", path, line_of("kernel"))
    notebooks = doc.get("notebooks") or {}
    if not isinstance(notebooks, Mapping):
        raise DataError("'notebooks' must map notebook name -> parameter sets", path, line_of("notebooks"))

    runs: list[Run] = []
    reduced: list[Run] = []
    problems: list[str] = []
    reduced_doc = doc.get("reduced") or {}
    if not isinstance(reduced_doc, Mapping):
        raise DataError(
            "'reduced' must map notebook name -> set name or parameters", path, line_of("reduced")
        )
    for name in reduced_doc:
        if name not in notebooks:
            raise DataError(f"reduced: {name!r} is not listed under notebooks", path, line_of("reduced"))
    for notebook, entry in notebooks.items():
        nb_line = getattr(notebooks, "line_of", lambda _k: None)(notebook)
        where = f"{path.name} line {nb_line}: {notebook}" if nb_line else f"{path.name}: {notebook}"
        if not isinstance(notebook, str) or not _NAME.match(notebook):
            raise ReportError(f"{where}: notebook name must match {_NAME.pattern}")
        nb_path = path.parent / f"{notebook}.ipynb"
        cell = notebook_parameters(read_notebook_json(nb_path), nb_path)
        sets = _sets(entry, where)
        for set_name, overrides in sets.items():
            run, bad = _make_run(notebook, set_name, overrides, nb_path, cell)
            runs.append(run)
            problems += bad
        pick = reduced_doc.get(notebook, next(iter(sets)))
        if isinstance(pick, str):
            if pick not in sets:
                raise ReportError(f"{path.name}: reduced: {notebook}: no set named {pick!r}")
            reduced.append(next(r for r in runs if r.notebook == notebook and r.set_name == pick))
        elif isinstance(pick, Mapping) or pick is None:
            run, bad = _make_run(notebook, "reduced", dict(pick or {}), nb_path, cell)
            reduced.append(run)
            problems += bad
        else:
            raise ReportError(f"{path.name}: reduced: {notebook}: expected a set name or a mapping")
    if problems:
        raise ParameterError(problems)
    return ReportConfig(path=path, runs=runs, timeout=float(timeout), kernel=kernel, reduced_runs=reduced)
