"""The live workbook in a real browser: headless Debian chromium driven by Playwright, network off.

Used by the browser tests (JupyterLab and Voilà: run, move a control, see the chart redraw; reopen,
save) and by ``benchmarks/bench_live.py`` (every panel's redraw, input event to chart drawn). The
servers come from :func:`tdxlib.workbook.launch.serve`; the page side is ``js/livecheck.js``.

Network off: chromium's proxy is a dead port (loopback bypasses it), every request that is not to
127.0.0.1 is aborted by a route and recorded in :attr:`Browser.offhost`, which a caller asserts empty.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tdxlib.workbook.launch import KERNEL, Server, serve

__all__ = [
    "Browser",
    "browser",
    "check_present",
    "chromium_path",
    "lab_open",
    "lab_run_all",
    "percentile",
    "voila_open",
]

#: Debian's chromium (Playwright's own browser download is not reachable here).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",
)
_HELPER = Path(__file__).with_name("js") / "livecheck.js"
_LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:", "about:")


def chromium_path() -> str | None:
    """The system chromium, or None when there is none (the browser tests then skip)."""
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    return shutil.which("chromium")


@dataclass
class Browser:
    """A Playwright browser context with the in-page helper; ``offhost`` lists refused requests."""

    context: Any
    offhost: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def new_page(self) -> Any:
        """A page whose script errors are collected in :attr:`errors`."""
        page = self.context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        return page


@contextlib.contextmanager
def browser(width: int = 1280, height: int = 1000) -> Iterator[Browser]:
    """Headless chromium, network off (only 127.0.0.1), the helper added to every page."""
    # reason: Playwright is a dev dependency, needed only by the browser tests and benchmarks
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise FileNotFoundError("no chromium: apt-get install chromium")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=exe, headless=True, args=list(CHROMIUM_ARGS))
        context = chromium.new_context(viewport={"width": width, "height": height})
        out = Browser(context)

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith(_LOCAL):
                r.continue_()
            else:
                out.offhost.append(url)
                r.abort()

        context.route("**/*", route)
        context.add_init_script(path=str(_HELPER))
        try:
            yield out
        finally:
            context.close()
            chromium.close()


# --------------------------------------------------------------------------------------------------
# JupyterLab
# --------------------------------------------------------------------------------------------------

_CURRENT = "window.jupyterapp.shell.currentWidget"
_DONE = f"""() => {{
  const w = {_CURRENT};
  if (!w || !w.content || !w.sessionContext) return false;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  if (!k || k.status !== 'idle') return false;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const errors = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  const busy = cells.some(c => (c.promptNode && c.promptNode.textContent.includes('*')));
  return !busy && (errors || cells.every(c => c.model.executionCount !== null));
}}"""
_ERRORS = f"""() => {_CURRENT}.content.widgets.flatMap(c => c.model.type === 'code'
  ? c.model.outputs.toJSON().filter(o => o.output_type === 'error')
      .map(o => o.ename + ': ' + o.evalue) : [])"""


def lab_open(page: Any, server: Server, notebook: str, timeout: float = 60.0) -> None:
    """Open ``notebook`` in JupyterLab and wait until its kernel is ready (no kernel dialog)."""
    page.goto(server.page(f"lab/tree/{notebook}"), wait_until="domcontentloaded")
    page.wait_for_function(
        f"""(name) => {{ const w = window.jupyterapp && {_CURRENT};
        return !!(w && w.context && w.context.path.endsWith(name) && w.sessionContext
          && w.sessionContext.session && w.sessionContext.session.kernel
          && w.sessionContext.session.kernel.status === 'idle'); }}""",
        arg=notebook,
        timeout=timeout * 1000,
    )
    name = page.evaluate(f"() => {_CURRENT}.sessionContext.session.kernel.name")
    if name != KERNEL:
        raise AssertionError(f"{notebook} opened on kernel {name!r}, not {KERNEL!r}")


def lab_command(page: Any, command: str, args: dict[str, Any] | None = None) -> Any:
    """Run a JupyterLab command (``notebook:run-all-cells``, ``docmanager:save`` ...)."""
    return page.evaluate("([c, a]) => window.jupyterapp.commands.execute(c, a)", [command, args or {}])


def lab_run_all(page: Any, timeout: float = 180.0) -> list[str]:
    """Run every cell of the current notebook; wait until done; the error outputs (``ename: evalue``)."""
    lab_command(page, "notebook:run-all-cells")
    page.wait_for_function(_DONE, timeout=timeout * 1000, polling=200)
    errors: list[str] = page.evaluate(_ERRORS)
    return errors


def wait_charts(page: Any, count: int | None = None, timeout: float = 30.0) -> int:
    """Wait until every chart on the page (or current notebook) is drawn, at least ``count``; how many."""
    page.wait_for_function(
        """(n) => { const L = window.__tdxlibLive; const all = L.charts(), drawn = L.drawnCharts();
        return all > 0 && drawn === all && (n === null || drawn >= n); }""",
        arg=count,
        timeout=timeout * 1000,
        polling=100,
    )
    drawn: int = page.evaluate("() => window.__tdxlibLive.drawnCharts()")
    return drawn


def lab_shutdown(page: Any) -> None:
    """Shut the current notebook's kernel down (frees a core between notebooks)."""
    page.evaluate(f"() => {_CURRENT}.sessionContext.shutdown()")


# --------------------------------------------------------------------------------------------------
# Voilà
# --------------------------------------------------------------------------------------------------


def voila_open(page: Any, server: Server, notebook: str, timeout: float = 120.0) -> int:
    """Open ``notebook`` rendered by Voilà and wait until every chart is drawn; how many there are."""
    page.goto(server.page(f"voila/render/{notebook}"), wait_until="domcontentloaded", timeout=timeout * 1000)
    page.wait_for_function("() => window.__tdxlibLive.panels().length > 0", timeout=timeout * 1000)
    return wait_charts(page, timeout=timeout)


# --------------------------------------------------------------------------------------------------
# Panels
# --------------------------------------------------------------------------------------------------


def panels(page: Any) -> list[dict[str, Any]]:
    """The panels on the page: their title and controls (kind and label)."""
    out: list[dict[str, Any]] = page.evaluate("() => window.__tdxlibLive.describe()")
    return out


def move(page: Any, panel: int, control: int, k: int, timeout: float = 10.0) -> dict[str, Any]:
    """Move a control for the ``k``-th time (odd: to a new value, even: back); ``ms`` is None when no
    chart was drawn within ``timeout``."""
    out: dict[str, Any] = page.evaluate(
        "([p, c, k, t]) => window.__tdxlibLive.move(p, c, k, t)", [panel, control, k, timeout * 1000]
    )
    return out


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def measure_panel(page: Any, panel: int, moves: int, settle_ms: float = 50.0) -> dict[str, Any]:
    """Move each control of ``panel`` ``moves`` times; the times (ms), how the chart redrew (``update``:
    data only, ``embed``: a new spec), the moves with no redraw."""
    desc = panels(page)[panel]
    times: list[float] = []
    missed: list[str] = []
    hows: dict[str, int] = {}
    per_control: dict[str, list[float]] = {}
    for ci, c in enumerate(desc["controls"]):
        for k in range(1, moves + 1):
            r = move(page, panel, ci, k)
            if r["ms"] is None:
                missed.append(f"{c['label'] or c['kind']} -> {r['value']}")
            else:
                times.append(r["ms"])
                hows[r["how"]] = hows.get(r["how"], 0) + 1
                per_control.setdefault(c["label"] or c["kind"], []).append(r["ms"])
            time.sleep(settle_ms / 1000.0)
    return {
        "title": desc["title"],
        "times": times,
        "missed": missed,
        "how": hows,
        "per_control": per_control,
        "p50": percentile(times, 50),
        "p95": percentile(times, 95),
        "median": statistics.median(times) if times else float("nan"),
    }


# --------------------------------------------------------------------------------------------------
# python -m tdxlib.workbook.livecheck present [NOTEBOOK_DIR]
# --------------------------------------------------------------------------------------------------


def check_present(notebook_dir: Path, names: list[str] | None = None) -> list[str]:
    """Open every notebook of ``notebook_dir`` in Voilà (as ``make present`` serves them) in headless
    chromium, network off; the problems found (a notebook with no chart, a chart not drawn, a chart
    error, a script error, a request off this machine). Prints one line per notebook."""
    problems: list[str] = []
    stems = names or sorted(p.name for p in notebook_dir.glob("*.ipynb"))
    with serve("present", notebook_dir) as server, browser() as br:
        for name in stems:
            page = br.new_page()
            t0 = time.perf_counter()
            try:
                drawn = voila_open(page, server, name)
            except Exception as exc:  # a timeout: say which notebook, go on with the next
                problems.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                page.close()
                continue
            failed = page.evaluate("() => document.querySelectorAll('.tdxlib-livechart-error').length")
            print(f"{name}: {drawn} charts drawn in {time.perf_counter() - t0:.1f} s")
            if drawn == 0 or failed:
                problems.append(f"{name}: {drawn} charts drawn, {failed} chart errors")
            page.close()
        problems += [f"requested off this machine: {u}" for u in sorted(set(br.offhost))]
        problems += [f"script error: {e}" for e in br.errors]
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m tdxlib.workbook.livecheck present [NOTEBOOK_DIR]``: exit 1 on any problem."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "present":
        print("usage: python -m tdxlib.workbook.livecheck present [NOTEBOOK_DIR]")
        return 2
    problems = check_present(Path(args[1] if len(args) > 1 else "notebooks"))
    for p in problems:
        print(f"problem: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
