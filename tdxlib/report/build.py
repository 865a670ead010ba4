"""``tdxlib report`` end to end: validate, skip what is cached, execute the rest, export, summarise.

Order matters: every parameter set is validated before any kernel starts; each run executes into a
temporary directory and only a successful run replaces its reports (``os.replace``), so a failure
keeps the last good report; the summaries are rewritten from all runs' records at the end.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tdxlib import __version__, files
from tdxlib.cache import BUILD_CACHE_ENV
from tdxlib.data import DATA_DIR
from tdxlib.errors import DataError, ReportError, ValidationError
from tdxlib.files import atomic_write_text
from tdxlib.lazy import defer_rfc3987_syntax
from tdxlib.report import runcache
from tdxlib.report.config import ReportConfig, Run, load_config, read_notebook_json
from tdxlib.report.execute import RunError, execute_notebook, kernel_environment, resolve_kernel, run_pipeline
from tdxlib.report.export import header_html, prune_svg_cache, render_charts
from tdxlib.report.index import build_summary, git_commit, index_html, summary_markdown
from tdxlib.report.paramcell import run_kernel, run_kernel_line
from tdxlib.report.records import collect_records
from tdxlib.report.renderer import Renderer

#: Where the config is looked up when none is given: ./notebooks/reports.yaml, else the checkout's.
CONFIG_RELPATH = Path("notebooks") / "reports.yaml"


@dataclass
class RunState:
    """One run's fate in this build."""

    run: Run
    key: str
    inputs: dict[str, Any]
    record: dict[str, Any] | None  # the cache record (last good result), if any
    action: str  # "cached", "execute", "executed", "failed", "not selected"
    reasons: list[str] = field(default_factory=list)  # why it (re-)executes
    error: ReportError | None = None


@dataclass
class BuildResult:
    """What a build did: per-run states, the summary written, and the errors."""

    out: Path
    config: ReportConfig
    states: list[RunState]
    summary: dict[str, Any]
    seconds: float
    selected: list[str] = field(default_factory=list)  # names of the runs asked for (--only)

    @property
    def executed(self) -> list[str]:
        """Names of the runs executed successfully in this build."""
        return [s.run.name for s in self.states if s.action == "executed"]

    @property
    def cached(self) -> list[str]:
        """Names of the runs skipped because nothing they depend on changed."""
        return [s.run.name for s in self.states if s.action == "cached"]

    @property
    def errors(self) -> list[ReportError]:
        """The failures of this build (each names notebook, set, cell and error)."""
        return [s.error for s in self.states if s.error is not None]

    @property
    def ok(self) -> bool:
        """True when no run failed."""
        return not self.errors


def default_config_path() -> Path:
    """``./notebooks/reports.yaml`` when it exists, else the one in the checkout tdxlib lives in."""
    here = Path.cwd() / CONFIG_RELPATH
    if here.is_file():
        return here
    return Path(__file__).resolve().parents[2] / CONFIG_RELPATH


def _source_hash() -> str:
    return runcache.hash_tree(Path(__file__).resolve().parents[1], ("**/*.py",))


def _build_cache(out_dir: Path) -> Path:
    """Where kernels share results (tdxlib.cache): one folder per tdxlib source + data version.

    Every 06_proposals run compares against the same built-in proposals; evaluated once, they are
    read by the others. Other versions' folders are removed: nothing stale is served.
    """
    root = out_dir / ".cache" / "shared"
    here = root / f"{_source_hash()[:16]}-{_data_hash()[:16]}"
    if root.is_dir():
        for old in root.iterdir():
            if old != here:
                shutil.rmtree(old, ignore_errors=True)
    here.mkdir(parents=True, exist_ok=True)
    return here


def compile_tdxlib() -> bool:
    """Byte-compile tdxlib's sources once, before the kernels start; False if that was not possible.

    Every kernel imports tdxlib. Where ``PYTHONDONTWRITEBYTECODE`` is set (common in containers and
    CI images) no import ever writes ``__pycache__``, so each kernel would compile every module from
    source again: seconds per build. ``compileall`` writes the caches regardless of that variable and
    skips modules whose cache is current; a read-only install just keeps compiling in memory.
    """
    try:
        return bool(compileall.compile_dir(Path(__file__).resolve().parents[1], quiet=2))
    except OSError:
        return False


def _data_hash() -> str:

    return runcache.hash_tree(DATA_DIR)


def _fresh(record: dict[str, Any] | None, key: str, out: Path, name: str) -> bool:
    """A run's reports are current: its record has ``key`` and both files are there."""
    return (
        record is not None
        and record.get("key") == key
        and (out / f"{name}.html").is_file()
        and (out / f"{name}.ipynb").is_file()
    )


def plan(
    config: ReportConfig,
    out: Path,
    selected: Sequence[Run],
    universe: Sequence[Run],
    force: bool,
    kernel: str,
) -> list[RunState]:
    """Cache state of every run in ``universe``; selected runs that are not fresh get ``execute``."""
    source_hash, data_hash = _source_hash(), _data_hash()
    nb_hashes: dict[Path, str] = {}
    chosen = {r.name for r in selected}
    states = []
    for run in universe:
        if run.path not in nb_hashes:
            nb_hashes[run.path] = runcache.hash_notebook(read_notebook_json(run.path))
        inputs = runcache.run_inputs(nb_hashes[run.path], run.parameters, source_hash, data_hash, kernel)
        key = runcache.cache_key(inputs)
        record = runcache.read_record(out, run.name)
        fresh = _fresh(record, key, out, run.name)
        if run.name not in chosen:
            action = "cached" if fresh else "not selected"
        elif fresh and not force:
            action = "cached"
        else:
            action = "execute"
        reasons = (
            ["--force"]
            if force and fresh
            else runcache.changed_inputs(record.get("inputs") if record else None, inputs)
        )
        states.append(RunState(run, key, inputs, record, action, reasons if action == "execute" else []))
    return states


@dataclass
class _Executed:
    """A run that has executed (in its temporary directory) and waits for render/export."""

    nb: Any
    work: Path
    seconds: float


def _execute_step(state: RunState, out: Path, kernel: str, timeout: float) -> _Executed:
    """Execute one run into a fresh temporary directory (kernel slot). Raises RunError."""
    run = state.run
    work = Path(tempfile.mkdtemp(prefix=f"{run.name}.", dir=out / ".tmp"))
    executed_path = work / f"{run.name}.ipynb"
    started = time.perf_counter()
    try:
        nb = execute_notebook(run, executed_path, kernel, timeout)
    except RunError as exc:
        kept = None
        if executed_path.is_file():
            kept = out / ".failed" / f"{run.name}.ipynb"
            kept.parent.mkdir(parents=True, exist_ok=True)
            os.replace(executed_path, kept)
        shutil.rmtree(work, ignore_errors=True)
        raise RunError(exc.run, exc.error, exc.cell, exc.ncells, exc.source, kept, exc.line) from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return _Executed(nb, work, time.perf_counter() - started)


def _finish_step(
    state: RunState,
    executed: _Executed,
    out: Path,
    version: str,
    commit: str | None,
    renderer: Renderer,
) -> dict[str, Any]:
    """Render charts and export (both in ``renderer``'s process), then swap the run's reports in;
    returns its new cache record."""
    # nbformat and jsonschema: only when a notebook is read or written
    import nbformat

    run, nb, work = state.run, executed.nb, executed.work
    try:
        failures = render_charts(nb, out / ".cache" / "svg", renderer.svg)
        if failures:
            number, error = failures[0]
            raise RunError(run, f"chart could not be rendered: {error}", number)
        metrics, ledger = collect_records(nb)
        facts = {
            "kernel profile": run_kernel_line(run.notebook, run.overrides)[1],
            "parameters": _params_text(run.overrides),
            "tdxlib": version,
            "commit": commit or "unknown",
        }
        header = header_html(run.name, facts)
        notebook_text = nbformat.v4.writes(nb)  # as kept: records included (the export strips them)
        try:
            page = renderer.html(notebook_text, run.name, header)
        except ReportError as exc:
            raise RunError(run, f"export failed: {exc}") from None
        html_tmp, nb_tmp = work / f"{run.name}.html", work / f"{run.name}.ipynb"
        html_tmp.write_text(page, encoding="utf-8")
        nb_tmp.write_text(notebook_text, encoding="utf-8")
        os.replace(html_tmp, out / f"{run.name}.html")
        os.replace(nb_tmp, out / f"{run.name}.ipynb")
        (out / ".failed" / f"{run.name}.ipynb").unlink(missing_ok=True)
        record = {
            "key": state.key,
            "inputs": state.inputs,
            "run": run.name,
            "notebook": run.notebook,
            "set": run.set_name,
            "parameters": run.overrides,
            "metrics": metrics,
            "ledger": ledger,
            "seconds": round(executed.seconds, 2),
            "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "html": f"{run.name}.html",
            "ipynb": f"{run.name}.ipynb",
        }
        runcache.write_record(out, run.name, record)
        return record
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _params_text(params: dict[str, Any]) -> str:

    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(params.items())) or "notebook defaults"


def _summary_runs(states: Sequence[RunState]) -> dict[str, dict[str, Any]]:
    runs: dict[str, dict[str, Any]] = {}
    for s in states:
        r = s.record or {}
        entry: dict[str, Any] = {
            "notebook": s.run.notebook,
            "set": s.run.set_name,
            "parameters": s.run.overrides,
            "kernel": run_kernel(s.run.notebook, s.run.overrides),
        }
        if s.action in ("cached", "executed"):
            entry.update({k: r.get(k) for k in ("metrics", "ledger", "seconds", "finished", "html", "ipynb")})
            entry["status"] = "ok"
        elif s.action == "failed":
            entry["status"] = "failed"
            entry["error"] = str(s.error)
            if r:  # the last good report is still in place: link it
                entry["html"] = r.get("html")
        else:
            entry["status"] = "stale" if r else "missing"
            if r:
                entry["html"] = r.get("html")
        runs[s.run.name] = entry
    return runs


def write_summaries(out: Path, states: Sequence[RunState], root: Path) -> dict[str, Any]:
    """Write summary.json, summary.md and index.html from the runs' records; return the summary."""
    summary = build_summary(_summary_runs(states), __version__, git_commit(root))
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, sort_keys=True) + "\n")
    atomic_write_text(out / "summary.md", summary_markdown(summary))
    atomic_write_text(out / "index.html", index_html(summary))
    return summary


def _checked_options(jobs: int | None, timeout: float | None, default_timeout: float) -> tuple[int, float]:
    """``jobs`` (None: one kernel per core) and the per-cell ``timeout`` (None: the config's)."""
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= 1024):
        raise ValidationError("jobs", jobs, "an integer in 1..1024, or None for one kernel per core")
    per_cell = default_timeout if timeout is None else timeout
    if isinstance(per_cell, bool) or not isinstance(per_cell, (int, float)) or not 0 < per_cell < math.inf:
        raise ValidationError("timeout", per_cell, "a finite number of seconds > 0")
    return (jobs or os.cpu_count() or 1), float(per_cell)


def _out_dir(out: Path) -> Path:
    """The output folder, made if missing; a file there is an error naming it."""
    if out.exists() and not out.is_dir():
        raise DataError("is not a directory; --out names the folder the reports go into", out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _clean_tmp(out: Path) -> None:
    """Remove what killed builds left in ``<out>/.tmp`` (called only when no other build is running)."""
    tmp = out / ".tmp"
    if tmp.is_dir():
        for leftover in tmp.iterdir():
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


def _refresh(states: Sequence[RunState], out: Path) -> None:
    """Runs this build did not execute may have been built meanwhile by another build into the same
    ``out``: take their records as they are now, so the summary lists every run that is built."""
    for s in states:
        if s.action != "not selected":
            continue
        record = runcache.read_record(out, s.run.name)
        if _fresh(record, s.key, out, s.run.name):
            s.record, s.action = record, "cached"


def _execute_all(
    todo: list[RunState],
    cfg: ReportConfig,
    out_dir: Path,
    kernel_name: str,
    n_jobs: int,
    per_cell: float,
    progress: bool,
    say: Callable[[str], None],
) -> None:
    """Execute the runs of ``todo`` (each state records its outcome)."""
    defer_rfc3987_syntax()
    resolved = resolve_kernel(kernel_name)
    compile_tdxlib()
    (out_dir / ".tmp").mkdir(parents=True, exist_ok=True)
    commit = git_commit(cfg.root)
    say(f"tdxlib report: executing {len(todo)} run(s) on {min(n_jobs, len(todo))} kernel(s) [{resolved}]")
    with (
        kernel_environment({BUILD_CACHE_ENV: str(_build_cache(out_dir))}),
        Renderer() as renderer,
    ):
        for state, record, exc in run_pipeline(
            todo,
            lambda s: _execute_step(s, out_dir, resolved, per_cell),
            lambda s, executed: _finish_step(s, executed, out_dir, __version__, commit, renderer),
            n_jobs,
            lambda s: s.run.name,
            progress,
        ):
            if exc is None:
                state.record, state.action = record, "executed"
            elif isinstance(exc, ReportError):
                state.action, state.error = "failed", exc
            else:
                state.action = "failed"
                state.error = ReportError(f"{state.run.name}: {type(exc).__name__}: {exc}")
    prune_svg_cache(out_dir / ".cache" / "svg")


def build(
    config: Path | str | None = None,
    out: Path | str | None = None,
    only: Sequence[str] | None = None,
    jobs: int | None = None,
    force: bool = False,
    reduced: bool = False,
    timeout: float | None = None,
    jupyter_kernel: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build the reports; see the module doc. Raises ParameterError before anything executes.

    Builds into the same ``out`` may run at once (each holds a shared lock on ``<out>/.lock``; the one
    that starts alone first removes what killed builds left in ``<out>/.tmp``); the summaries are
    written under ``<out>/.summary.lock`` from every run's record as it is then, so they list every
    run any of them built."""
    started = time.perf_counter()
    say = log or ((lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None))
    cfg = load_config(Path(config) if config is not None else default_config_path())
    n_jobs, per_cell = _checked_options(jobs, timeout, cfg.timeout)
    selected = cfg.select(only, reduced)
    universe = cfg.reduced_runs if reduced else cfg.runs
    kernel_name = jupyter_kernel or cfg.jupyter_kernel
    out_dir = _out_dir(Path(out) if out is not None else cfg.root / "reports")
    with files.shared_lock(out_dir / ".lock", when_alone=lambda: _clean_tmp(out_dir)):
        states = plan(cfg, out_dir, selected, universe, force, kernel_name)
        todo = [s for s in states if s.action == "execute"]
        if todo:
            _execute_all(todo, cfg, out_dir, kernel_name, n_jobs, per_cell, progress, say)
        with contextlib.suppress(OSError):
            (out_dir / ".tmp").rmdir()  # only when empty: a concurrent build may still use it
        with files.lock(out_dir / ".summary.lock"):
            _refresh(states, out_dir)
            summary = write_summaries(out_dir, states, cfg.root)
    return BuildResult(
        out_dir, cfg, states, summary, time.perf_counter() - started, [r.name for r in selected]
    )
