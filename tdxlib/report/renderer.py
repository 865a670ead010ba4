"""Charts to SVG and notebooks to HTML in a helper process, so finishing a run never stalls the kernels.

The build's process drives its kernels from threads that need Python's GIL for every message.
vl-convert keeps the GIL for the whole of a render (50-200 ms a chart), and the HTML export is
seconds of pure-Python templating over a build: done in that process, both kept the kernel threads
from sending the next cell, and cores sat idle. The helper does both, one request at a time, with
vl-convert and nbconvert warmed up at its start; the build's threads only wait on a pipe.
``python -m tdxlib.report.renderer`` is the helper's side: one JSON request per input line
(``{"svg": spec}`` or ``{"html": notebook JSON, "title": ..., "header": ...}``), one JSON answer per
output line (``{"ok": text}``, ``{"report_error": why}`` or ``{"error": why}``).

The helper sees no system fonts (a fontconfig file naming one empty folder): vl-convert then
measures text with the Liberation Sans it bundles, held in memory, instead of opening and mapping
the system's copy of the font file again for every glyph it measures (half the render time), and
the SVGs come out the same whatever fonts the build machine has. The text itself is still drawn by
the reader's browser from the theme's font list.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from tdxlib.errors import ReportError
from tdxlib.report.export import export_html, warm_up
from tdxlib.workbook.svg import vegalite_svg

#: The helper's fontconfig file: one font folder, left empty (see the module doc).
FONTCONFIG = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>{folder}</dir></fontconfig>
"""


class Renderer:
    """The helper process: Vega-Lite specs to SVG, executed notebooks to offline HTML; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  # closed by close()
        self._fonts = Path(tempfile.mkdtemp(prefix="tdxlib-renderer-fonts."))
        (self._fonts / "none").mkdir()
        conf = self._fonts / "fonts.conf"
        conf.write_text(FONTCONFIG.format(folder=escape(str(self._fonts / "none"))), encoding="utf-8")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, "FONTCONFIG_FILE": str(conf)},
        )

    def svg(self, spec: Mapping[str, Any]) -> str:
        """The SVG of ``spec``; RuntimeError for a spec vl-convert rejects."""
        return self._ask({"svg": spec})

    def html(self, notebook: str, title: str, header: str = "") -> str:
        """:func:`tdxlib.report.export.export_html` of ``notebook`` (nbformat JSON text); ReportError
        when the page would load anything from off the page."""
        return self._ask({"html": notebook, "title": title, "header": header})

    def _ask(self, request: Mapping[str, Any]) -> str:
        line = json.dumps(request, ensure_ascii=False).encode() + b"\n"
        with self._lock:
            stdin, stdout = self._proc.stdin, self._proc.stdout
            assert stdin is not None and stdout is not None
            try:
                stdin.write(line)
                stdin.flush()
                answer = stdout.readline()
            except (OSError, ValueError):  # a dead helper's pipe, or one already closed
                answer = b""
            if not answer:
                raise ReportError(f"the report renderer (python -m {__name__}) exited: {self._last_error()}")
        reply = json.loads(answer)
        if "report_error" in reply:
            raise ReportError(reply["report_error"])
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return str(reply["ok"])

    def _last_error(self) -> str:
        code = self._proc.poll()
        if self._stderr.closed:
            return "closed by this build"
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        return (lines[-1] if lines else "no message") + (f" (exit code {code})" if code is not None else "")

    def close(self) -> None:
        """Stop the helper (it ends when its input closes) and release its files."""
        with self._lock:
            if self._proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._stderr.close()
            shutil.rmtree(self._fonts, ignore_errors=True)

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _answer(request: dict[str, Any]) -> dict[str, str]:

    try:
        if "svg" in request:
            return {"ok": vegalite_svg(request["svg"])}
        # nbformat and jsonschema: only when a notebook is read or written
        import nbformat

        # the exporter validates the notebook (once): reading it need not validate it as well
        nb = nbformat.v4.reads(request["html"])
        return {"ok": export_html(nb, request["title"], request.get("header", ""))}
    except ReportError as exc:
        return {"report_error": str(exc)}
    except Exception as exc:  # vl-convert raises plain exceptions for bad specs
        return {"error": f"{type(exc).__name__}: {exc}"}


def main() -> int:
    """The helper: warm vl-convert and the exporter up, then answer one request per line until the
    input closes."""
    warm_up()  # now, not on the build's first chart and first page
    gc.freeze()  # what is loaded now lives as long as the helper: keep it out of every full collection
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        out.write(json.dumps(_answer(json.loads(line)), ensure_ascii=False).encode() + b"\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
