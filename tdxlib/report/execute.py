"""A thin wrapper of ours around papermill: run notebooks in parallel, one kernel each, fail clearly.

Each run executes in a worker thread (papermill/nbclient are asyncio + zmq, so threads suffice and
papermill is imported once); the kernel is a separate process, so runs use separate cores, and a
kernel slot is handed to the next run as soon as a notebook has executed (rendering and export run
on one more thread). The kernel is named explicitly and must be this environment's Python; every cell
has a timeout; the kernel's working directory is the notebook's folder (given to nbclient, never
``os.chdir``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, TypeVar

from tdxlib.errors import ReportError, TdxlibError
from tdxlib.report.config import DEFAULT_KERNEL, Run, read_notebook_json
from tdxlib.report.paramcell import cell_source

T = TypeVar("T")
#: Environment the kernels inherit: headless charts rendered by the pipeline, deterministic hashing.
KERNEL_ENV = {"TDXLIB_HEADLESS": "1", "TDXLIB_CHARTS": "deferred", "PYTHONHASHSEED": "0"}
#: Kernel command-line options: quiet logs, and the ~2 s jsonschema/rfc3987 import saving (see lazy.py)
#: applied before the first cell, whatever the notebook imports first.
KERNEL_ARGS = [
    "--IPKernelApp.log_level=CRITICAL",
    # No input history: every cell would be written to one shared SQLite file, which parallel kernels
    # contend for (and a report run never reads back).
    "--HistoryManager.enabled=False",
    "--IPKernelApp.exec_lines=__import__('tdxlib.lazy').lazy.defer_rfc3987_syntax()",
]
_NATIVE = {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}
_INJECTED_TAG = "injected-parameters"
_BANNER_TAG = "papermill-error-cell-tag"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_LINE = re.compile(r"Cell In\[\d*\], line (\d+)")


class RunError(ReportError):
    """One run failed: names notebook, parameter set, cell (index and source excerpt) and the error."""

    def __init__(
        self,
        run: Run,
        error: str,
        cell: int | None = None,
        ncells: int | None = None,
        source: str = "",
        kept: Path | None = None,
        line: int | None = None,
    ) -> None:
        self.run = run
        self.line = line
        self.error = error
        self.cell = cell
        self.ncells = ncells
        self.source = source
        self.kept = kept
        where = f"{run.path.name} [set {run.set_name!r}]"
        if cell is not None:
            where += f": cell {cell}" + (f" of {ncells}" if ncells else "")
        lines = [f"{where}" + (f", line {line}" if line else "") + f": {error}"]
        lines += _excerpt(source, line)
        if kept is not None:
            lines.append(f"    executed notebook kept at {kept}")
        super().__init__("\n".join(lines))


def _excerpt(source: str, line: int | None, width: int = 100) -> list[str]:
    """A few lines of the cell: around ``line`` (marked ``>``), else its first non-blank lines."""
    src = source.splitlines()
    if line and 1 <= line <= len(src):
        picked = range(max(1, line - 2), min(len(src), line + 1) + 1)
    else:
        picked = range(1, len(src) + 1)
    out = []
    for n in picked:
        text = src[n - 1]
        if not line and not text.strip():
            continue
        text = text if len(text) <= width else text[: width - 1] + "…"
        out.append(f"    {'>' if n == line else '|'} {text}")
    return out[:4] if not line else out


def _error_line(traceback: list[str]) -> int | None:
    """The line of the failing cell named in an IPython traceback (``Cell In[3], line 7``), if any."""
    text = _ANSI.sub("", "\n".join(traceback or []))
    found = _CELL_LINE.findall(text)
    return int(found[-1]) if found else None


def _cell_in_message(run: Run, message: str) -> tuple[tuple[int, int] | None, str]:
    """((number, total), source) of the notebook cell an nbclient timeout message previews, if found."""
    try:
        cells = read_notebook_json(run.path)["cells"]
    except TdxlibError:
        return None, ""
    for i, cell in enumerate(cells):
        src = cell_source(cell)
        lines = src.strip().split("\n")
        preview = src if len(lines) < 11 else f"{lines[:5]}\n...\n{lines[-5:]}"
        if cell.get("cell_type") == "code" and src.strip() and preview in message:
            return (i + 1, len(cells)), src
    return None, ""


def resolve_kernel(name: str) -> str:
    """The kernel to use for ``name``: it must exist and run this environment's Python.

    When the default ``tdxlib`` kernelspec is not installed (``make`` installs it), the native
    ``python3`` kernel is used: jupyter_client starts it with ``sys.executable``.
    """
    # jupyter_client: only when a kernel is resolved
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    try:
        spec = ksm.get_kernel_spec(name)
    except NoSuchKernel:
        if name == DEFAULT_KERNEL:
            return "python3"
        known = ", ".join(sorted(ksm.find_kernel_specs())) or "none"
        raise ReportError(f"Jupyter kernel {name!r} is not installed; installed kernels: {known}") from None
    argv0 = spec.argv[0] if spec.argv else ""
    if argv0 in _NATIVE:
        return name
    exe = os.path.abspath(argv0)
    if not (exe == os.path.abspath(sys.executable) or exe.startswith(os.path.abspath(sys.prefix) + os.sep)):
        raise ReportError(
            f"Jupyter kernel {name!r} runs {argv0}, not this environment's Python ({sys.executable}); "
            "re-run `make` (it installs the 'tdxlib' kernel into .venv) or pass --kernel python3"
        )
    return name


@contextlib.contextmanager
def kernel_environment(extra: Mapping[str, str] | None = None) -> Iterator[None]:
    """Set :data:`KERNEL_ENV` (and ``extra``) for the kernels started inside the block, then restore."""
    env = {**KERNEL_ENV, **(extra or {})}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _tags(cell: Any) -> set[str]:
    return set((cell.get("metadata") or {}).get("tags") or [])


def _original_cell(nb: Any, index: int) -> tuple[int, int]:
    """(1-based number, total) of cell ``index`` in the notebook as written.

    ``index`` counts papermill's injected-parameters cell but not the error banner it inserts at the
    top of the saved notebook after the failure.
    """
    cells = [c for c in (nb.get("cells", []) if nb is not None else []) if _BANNER_TAG not in _tags(c)]
    number = sum(1 for c in cells[:index] if _INJECTED_TAG not in _tags(c)) + 1
    return number, sum(1 for c in cells if _INJECTED_TAG not in _tags(c))


#: Kernel start failures worth another try: nothing of the notebook has run yet.
_START_FAILURE = "Kernel died before replying to kernel_info"
#: How often a run is started again after such a failure.
START_RETRIES = 2


def _with_start_retries(start: Callable[[], T]) -> T:
    """``start()``, again (up to :data:`START_RETRIES` times) if the kernel died while starting.

    Kernels started side by side over TCP each pick free ports and bind them a moment later; now and
    then one loses that race ("Address already in use") and dies before it answers. Its notebook has
    not run a single cell, so starting it again is safe.
    """
    for _ in range(START_RETRIES):
        try:
            return start()
        except RuntimeError as exc:
            if _START_FAILURE not in str(exc):
                raise
    return start()  # the last try: whatever it raises is the run's error


def _papermill(run: Run, output: Path, kernel: str, timeout: float) -> Any:
    """``papermill.execute_notebook`` without its final save, built from the same papermill steps.

    papermill writes the executed notebook with nbformat's indented (pure-Python) JSON encoder, a
    second or more of CPU per build for notebooks full of chart specs; the pipeline writes the
    notebook itself once its charts are rendered. A failing notebook is still saved to ``output``
    (``raise_for_execution_errors``), with papermill's error banner.
    """
    # papermill (~2 s of imports): only when a run executes
    from papermill.engines import papermill_engines
    from papermill.execute import prepare_notebook_metadata, raise_for_execution_errors, remove_error_markers
    from papermill.iorw import load_notebook_node, local_file_io_cwd
    from papermill.parameterize import parameterize_notebook

    source = str(run.path)
    with local_file_io_cwd():
        nb = load_notebook_node(source)
        if run.parameters:
            nb = parameterize_notebook(nb, dict(run.parameters), kernel_name=kernel, language="python")
        nb = remove_error_markers(prepare_notebook_metadata(nb, source, str(output)))
        nb = papermill_engines.execute_notebook_with_engine(
            None,
            nb,
            input_path=source,
            output_path=None,  # no autosave after every cell: it re-encodes the whole notebook each time
            kernel_name=kernel,
            progress_bar=False,
            log_output=False,
            start_timeout=120,
            stdout_file=None,
            stderr_file=None,
            execution_timeout=timeout,
            resources={"metadata": {"path": str(run.path.parent)}},
            extra_arguments=KERNEL_ARGS,
            shutdown_kernel="immediate",  # outputs are collected: free the core now, not after a handshake
        )
        raise_for_execution_errors(nb, str(output))  # saves the failed notebook, then raises
    return nb


def execute_notebook(run: Run, output: Path, kernel: str, timeout: float) -> Any:
    """Execute ``run`` and return the executed NotebookNode; on failure ``output`` (an .ipynb) holds it.

    Raises :class:`RunError` naming the cell and error.
    """

    # nbformat and jsonschema: only when a notebook is read or written
    import nbformat
    from papermill.exceptions import PapermillExecutionError

    # We validated the parameters ourselves (papermill's "Passed unknown parameter" guesses only confuse)
    # and report every failure in one RunError: keep papermill's and nbclient's logging quiet.
    logging.getLogger("papermill").setLevel(logging.CRITICAL)

    try:
        return _with_start_retries(lambda: _papermill(run, output, kernel, timeout))
    except PapermillExecutionError as exc:
        try:
            executed = nbformat.read(str(output), as_version=4)
        except Exception:
            executed = None
        number, total = _original_cell(executed, exc.cell_index)
        error = f"{exc.ename}: {exc.evalue}".rstrip(": ")
        line = _error_line(exc.traceback)
        raise RunError(run, error, number, total, str(exc.source), line=line) from None
    except ReportError:
        raise
    except Exception as exc:  # timeout, dead kernel, kernel not starting, unreadable notebook
        name = type(exc).__name__
        text = [ln for ln in str(exc).strip().splitlines() if ln.strip("- ")]
        detail = text[-1] if text else ""
        if name == "CellTimeoutError" or "timed out" in str(exc).lower():
            detail = f"a cell ran longer than the {timeout:g} s timeout"
        elif name == "DeadKernelError":
            detail = f"the kernel died ({detail})"
        where, source = _cell_in_message(run, str(exc))
        raise RunError(
            run,
            f"{name}: {detail}".rstrip(": "),
            where[0] if where else None,
            where[1] if where else None,
            source,
        ) from exc


def run_pipeline(
    items: Iterable[T],
    execute: Callable[[T], Any],
    finish: Callable[[T, Any], Any],
    jobs: int,
    describe: Callable[[T], str],
    progress: bool = True,
) -> Iterator[tuple[T, Any, BaseException | None]]:
    """Run ``execute(item)`` on ``jobs`` threads (one kernel each) and ``finish(item, executed)`` on one
    more thread; yield (item, result, error) as each item is done.

    A kernel slot is free as soon as its notebook has executed: finishing it (charts and export, in
    the report renderer's process) overlaps with the next kernels. Shows a tqdm bar on a terminal,
    one line per finished item otherwise.
    """
    # tqdm: only when there is work to show progress for
    from tqdm import tqdm

    todo = list(items)
    if not todo:
        return
    bar = tqdm(
        total=len(todo), unit="run", desc="reports", disable=None if progress else True, file=sys.stderr
    )

    def done(item: T, exc: BaseException | None) -> None:
        if progress:
            line = f"  {describe(item)}: {'FAILED' if exc is not None else 'ok'}"
            if bar.disable:
                print(line, file=sys.stderr, flush=True)
            else:
                bar.write(line, file=sys.stderr)
        bar.update(1)

    try:
        with (
            ThreadPoolExecutor(max(1, min(jobs, len(todo))), thread_name_prefix="report-kernel") as kernels,
            ThreadPoolExecutor(1, thread_name_prefix="report-export") as exports,
        ):
            running: dict[Future[Any], tuple[str, T]] = {
                kernels.submit(execute, item): ("execute", item) for item in todo
            }
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    stage, item = running.pop(fut)
                    exc = fut.exception()
                    if stage == "execute" and exc is None:
                        running[exports.submit(finish, item, fut.result())] = ("finish", item)
                        continue
                    done(item, exc)
                    yield item, (None if exc is not None else fut.result()), exc
    finally:
        bar.close()
