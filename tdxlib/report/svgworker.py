"""Vega-Lite -> SVG in a helper process, so chart rendering never stalls the kernels of a build.

vl-convert keeps Python's GIL for the whole of a render (50-200 ms a chart). Rendered in the
process that drives the kernels, every render froze the threads that feed those kernels their next
cell: cores sat idle while one chart was drawn. The helper renders one spec at a time, with its
own warm engine; the build's threads only wait on a pipe. ``python -m tdxlib.report.svgworker`` is
the helper's side: one JSON spec per input line, one JSON answer (``svg`` or ``error``) per line.

The helper sees no system fonts (a fontconfig file naming one empty folder): vl-convert then
measures text with the Liberation Sans it bundles, held in memory, instead of opening and mapping
the system's copy of the font file again for every glyph it measures (half the render time), and
the SVGs come out the same whatever fonts the build machine has. The text itself is still drawn by
the reader's browser from the theme's font list.
"""

from __future__ import annotations

import contextlib
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

#: The helper's fontconfig file: one font folder, left empty (see the module doc).
FONTCONFIG = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>{folder}</dir></fontconfig>
"""


class SvgWorker:
    """A helper process rendering Vega-Lite specs to SVG; thread-safe, one render at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  # closed by close()
        self._fonts = Path(tempfile.mkdtemp(prefix="tdxlib-svg-fonts."))
        (self._fonts / "none").mkdir()
        conf = self._fonts / "fonts.conf"
        conf.write_text(FONTCONFIG.format(folder=escape(str(self._fonts / "none"))), encoding="utf-8")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tdxlib.report.svgworker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, "FONTCONFIG_FILE": str(conf)},
        )

    def render(self, spec: Mapping[str, Any]) -> str:
        """The SVG of ``spec``; raises RuntimeError for a spec vl-convert rejects, ReportError if the
        helper has died."""
        line = json.dumps(spec, ensure_ascii=False).encode() + b"\n"
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
                raise ReportError(f"the SVG renderer (python -m {__name__}) exited: {self._last_error()}")
        reply = json.loads(answer)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return str(reply["svg"])

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

    def __enter__(self) -> SvgWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main() -> int:
    """The helper: warm vl-convert up, then answer one spec per line until the input closes."""
    from tdxlib.report.export import _WARM_SPEC, vegalite_svg

    vegalite_svg(_WARM_SPEC)  # start the engine now, not on the build's first chart
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        try:
            reply = {"svg": vegalite_svg(json.loads(line))}
        except Exception as exc:  # vl-convert raises plain exceptions for bad specs
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
