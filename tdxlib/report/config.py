"""``notebooks/reports.yaml``: which notebooks run with which named parameter sets, validated up front.

Format (documented in reports/README.md)::

    timeout: 600                  # optional: seconds per cell
    jupyter_kernel: tdxlib        # optional: the Jupyter kernel that runs the notebooks
    notebooks:
      01_the_question:            # notebooks/01_the_question.ipynb, run once with its defaults
      02_vector_budget:           # one run per named set: "<notebook>--<set>"
        small-td: {cpus: 8}
        server-1024: {cpus: 1024}
    reduced:                      # optional: what ``--reduced`` runs (tests): a set name, or overrides
      02_vector_budget: small-td

A set named ``default`` gives the run the notebook's own name. Every set is checked before anything
executes (:class:`~tdxlib.report.paramcell.ParameterError`): against the notebook's parameter model
(:mod:`tdxlib.workbook.params`) when it has one, else against its parameters cell.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, JsonValue

from tdxlib.data import load_yaml, read_text
from tdxlib.errors import DataError, ReportError
from tdxlib.models import Model, line_for, validate
from tdxlib.report.paramcell import ModelParameters, ParameterError, ParametersCell, notebook_parameters
from tdxlib.values import Float, Pattern, Str

#: The parameter the pipeline sets on every run (headless): notebooks declare ``interactive: bool``.
INTERACTIVE = "interactive"
DEFAULT_TIMEOUT = 600.0
DEFAULT_KERNEL = "tdxlib"
#: The largest notebook read (ours are committed without outputs: a few hundred KiB).
NOTEBOOK_BYTES = 64 * 1024 * 1024
_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
NotebookName = Annotated[Str, Pattern(_NAME, "a notebook name: the .ipynb file stem (letters, digits, _.-)")]
SetName = Annotated[Str, Pattern(_NAME, "a set name of letters, digits, _.- (part of a report's file name)")]
#: One parameter set: parameter -> a plain YAML value (nothing YAML-specific such as a date).
ParameterSet = dict[Str, JsonValue]
#: A notebook's sets (nothing: one run with the notebook's defaults).
Sets = Annotated[dict[SetName, ParameterSet | None], Field(min_length=1)] | None


class ReportsFile(Model):
    """``notebooks/reports.yaml`` (format: reports/README.md)."""

    timeout: Annotated[Float, Field(gt=0, description="seconds per cell")] = DEFAULT_TIMEOUT
    jupyter_kernel: Annotated[Str, Field(min_length=1, description="the Jupyter kernel")] = DEFAULT_KERNEL
    notebooks: dict[NotebookName, Sets] = Field(default_factory=dict)
    reduced: dict[NotebookName, SetName | ParameterSet | None] = Field(default_factory=dict)


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
    jupyter_kernel: str = DEFAULT_KERNEL
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
            raise ReportError(f"--only {', '.join(map(repr, unmatched))}: no such run; runs are: {known}")
        return chosen


def run_name(notebook: str, set_name: str) -> str:
    """The file stem of a run's reports: the notebook, plus ``--<set>`` unless the set is ``default``."""
    return notebook if set_name == "default" else f"{notebook}--{set_name}"


def read_notebook_json(path: Path) -> dict[str, Any]:
    """A notebook file as plain JSON (no nbformat: keeps a no-op build fast)."""
    try:
        data = json.loads(read_text(path, limit=NOTEBOOK_BYTES, what="notebook"))
    except json.JSONDecodeError as exc:
        raise DataError(f"not a notebook (invalid JSON: {exc.msg})", path, exc.lineno) from exc
    if not isinstance(data, dict) or "cells" not in data:
        raise DataError("not a notebook (no 'cells')", path)
    return data


def _sets(entry: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A notebook's parameter sets as plain JSON values (what papermill injects and the cache hashes)."""
    if entry is None:
        return {"default": {}}
    return {name: json.loads(json.dumps(dict(values or {}))) for name, values in entry.items()}


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


def _reduced(
    notebook: str, pick: Any, sets: dict[str, dict[str, Any]], runs: list[Run], path: Path, cell: Any
) -> tuple[Run, list[str]]:
    """The run ``--reduced`` makes of ``notebook``: a named set, or its own overrides."""
    if isinstance(pick, str):
        if pick not in sets:
            raise ReportError(f"{path.name}: reduced: {notebook}: no set named {pick!r}")
        return next(r for r in runs if r.notebook == notebook and r.set_name == pick), []
    return _make_run(notebook, "reduced", dict(pick or {}), path.parent / f"{notebook}.ipynb", cell)


def load_config(path: Path | str) -> ReportConfig:
    """Read reports.yaml (its shape: :class:`ReportsFile`) and check every parameter set against its
    notebook; raises ParameterError before anything runs."""
    path = Path(path)
    raw = load_yaml(path)
    doc = validate(ReportsFile, {} if raw is None else raw, path, what="reports.yaml")
    for name in doc.reduced:
        if name not in doc.notebooks:
            raise DataError(
                f"reduced: {name!r} is not listed under notebooks", path, line_for(raw, ("reduced",))
            )
    runs: list[Run] = []
    reduced: list[Run] = []
    problems: list[str] = []
    for notebook, entry in doc.notebooks.items():
        nb_path = path.parent / f"{notebook}.ipynb"
        cell = notebook_parameters(read_notebook_json(nb_path), nb_path)
        sets = _sets(entry)
        for set_name, overrides in sets.items():
            run, bad = _make_run(notebook, set_name, overrides, nb_path, cell)
            runs.append(run)
            problems += bad
        run, bad = _reduced(notebook, doc.reduced.get(notebook, next(iter(sets))), sets, runs, path, cell)
        reduced.append(run)
        problems += bad
    if problems:
        raise ParameterError(problems)
    return ReportConfig(
        path=path, runs=runs, timeout=doc.timeout, jupyter_kernel=doc.jupyter_kernel, reduced_runs=reduced
    )
