"""Open generated pages in a real browser (headless Debian chromium, network off) and check every chart drew.

export.py proves statically that nothing on a page points off it; this proves that what is on the page
decodes and shows: every ``<img>`` finished loading with a non-zero natural size and a non-zero box,
every live (vega-embed) chart holds drawn marks, no script error fired, and the browser fetched nothing
but the page. For an index, every local link must name a page that exists. Used by the browser tests
and by ``.ci/run`` over ``reports/`` (``python -m tdxlib.report.browser reports``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tdxlib.errors import ReportError

#: Headless, and network off: every fetch goes to a dead proxy and no host name resolves.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--window-size=1200,900",
)
#: Virtual time the page gets to load and draw (chromium fast-forwards it: not wall time).
VIRTUAL_TIME_MS = 10_000
_PROBE_ID = "tdxlib-browser-check"
#: Runs first in <head>: collects errors (resource errors too, by capture); after load it waits for
#: any live chart to draw, then writes what it saw as JSON into a <pre> that --dump-dom prints.
_PROBE = (
    "<script>(function(){var errors=[];"
    "window.addEventListener('error',function(e){var t=e.target||{};"
    "errors.push(String(e.message||t.currentSrc||t.src||t.href||'a resource failed to load'));},true);"
    "function live(){return Array.prototype.slice.call("
    "document.querySelectorAll('[id^=\"tdxlib-chart-\"],.vega-embed'));}"
    "function drawn(el){return !!el.querySelector('svg.marks,canvas');}"
    "function report(){var out={images:[],live:[],errors:errors,fetched:[]};"
    "Array.prototype.forEach.call(document.images,function(img){var r=img.getBoundingClientRect();"
    "out.images.push({ok:img.complete&&img.naturalWidth>0&&img.naturalHeight>0,"
    "w:r.width,h:r.height,src:(img.getAttribute('src')||'').slice(0,48)});});"
    "live().forEach(function(el){out.live.push({id:el.id||'',drawn:drawn(el)});});"
    "performance.getEntriesByType('resource').forEach(function(e){"
    "if(!/^data:/.test(e.name))out.fetched.push(e.name);});"
    "var pre=document.createElement('pre');pre.id='" + _PROBE_ID + "';"
    "pre.textContent=JSON.stringify(out);document.body.appendChild(pre);}"
    "function wait(n){if(n<80&&!live().every(drawn)){setTimeout(function(){wait(n+1);},100);}"
    "else{report();}}"
    "window.addEventListener('load',function(){wait(0);});})();</script>"
)


@dataclass
class PageCheck:
    """What the browser saw on one page: charts expected (from the HTML), charts drawn, and problems."""

    page: Path
    expected: int = 0
    drawn: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        head = f"{self.page.name}: {self.drawn}/{self.expected} charts drawn"
        return head if self.ok else head + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class _Scan(HTMLParser):
    """The page's charts (``<img>``s and live chart containers) and its local links, from the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.images = 0
        self.live = 0
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images += 1
        elif a.get("id", "").startswith("tdxlib-chart-"):
            self.live += 1
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])


def find_chromium() -> str | None:
    """The chromium binary (``$TDXLIB_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on PATH)."""
    explicit = os.environ.get("TDXLIB_CHROMIUM")
    if explicit:
        return explicit if shutil.which(explicit) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _require_chromium(chromium: str | None = None) -> str:
    """``chromium``, else :func:`find_chromium`'s; ReportError saying how to get one when there is none."""
    binary = chromium or find_chromium()
    if binary is None:
        raise ReportError("no chromium: install Debian's chromium (or set TDXLIB_CHROMIUM) to check pages")
    return binary


def _with_probe(text: str) -> str:
    """The page with the probe as the first script of ``<head>`` (or first thing, without a head)."""
    lower = text.lower()
    at = lower.find("<head")
    if at >= 0:
        end = lower.find(">", at)
        if end >= 0:
            return text[: end + 1] + _PROBE + text[end + 1 :]
    return _PROBE + text


def _ids_of(page: Path) -> set[str]:
    """The element ids (and ``<a name>``) of a local page, for checking links with a fragment."""
    scan = _Scan()
    try:
        scan.feed(page.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return set()
    return scan.ids


def _dead_links(page: Path, scan: _Scan) -> list[str]:
    """Local links that land nowhere: no such file beside the page, or no such id in the target."""
    dead, targets = [], {page.name: scan.ids}
    for href in scan.links:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue
        name = unquote(parts.path) or page.name
        target = page.parent / name
        if not target.is_file():
            dead.append(f"link {href!r} names no file beside the page")
            continue
        fragment = parts.fragment
        if fragment and target.suffix == ".html":
            ids = targets.setdefault(name, _ids_of(target))
            # as a browser looks it up: the fragment as written, then percent-decoded
            if fragment not in ids and unquote(fragment) not in ids:
                dead.append(f"link {href!r}: {name} has no element with id {unquote(fragment)!r}")
    return dead


def _probe_result(dom: str) -> dict[str, Any] | None:
    """The probe's JSON from the dumped DOM, or None when it never ran (the page did not load)."""
    start = dom.find(f'<pre id="{_PROBE_ID}">')
    if start < 0:
        return None
    start = dom.index(">", start) + 1
    end = dom.find("</pre>", start)
    try:
        result = json.loads(unescape(dom[start:end]))
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


def _read_probe(check: PageCheck, result: dict[str, Any], html_images: int) -> None:
    """Fill ``check`` from what the probe saw: a chart counts as drawn only when decoded and laid out."""
    images = [i for i in result.get("images", []) if isinstance(i, dict)]
    live = [c for c in result.get("live", []) if isinstance(c, dict)]
    for n, img in enumerate(images, 1):
        shown = img.get("w", 0) > 0 and img.get("h", 0) > 0
        if not img.get("ok"):
            check.problems.append(f"image {n} of {len(images)} did not decode ({img.get('src')}...)")
        elif not shown:
            check.problems.append(f"image {n} of {len(images)} decoded but is not shown (zero-size box)")
        else:
            check.drawn += 1
    for n, chart in enumerate(live, 1):
        if not chart.get("drawn"):
            check.problems.append(f"live chart {chart.get('id') or n} drew no marks")
        elif str(chart.get("id", "")).startswith("tdxlib-chart-"):
            check.drawn += 1
    if len(images) != html_images:
        check.problems.append(f"the HTML has {html_images} <img> but the browser laid out {len(images)}")
    check.problems += [f"script or resource error: {e}" for e in result.get("errors", [])]
    check.problems += [f"fetched off the page: {u}" for u in result.get("fetched", [])]


def check_page(page: Path | str, chromium: str | None = None, timeout: float = 120.0) -> PageCheck:
    """Load ``page`` (a copy with the probe added; the page itself is not touched) and report what drew.

    Raises ReportError when there is no chromium or it cannot be run; page problems are returned.
    """
    page = Path(page)
    binary = _require_chromium(chromium)
    try:
        text = page.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{page}: cannot read the page: {exc}") from exc
    scan = _Scan()
    scan.feed(text)
    check = PageCheck(page=page, expected=scan.images + scan.live)
    check.problems += _dead_links(page, scan)
    with tempfile.TemporaryDirectory(prefix="tdxlib-browser-") as tmp:
        copy = Path(tmp) / page.name
        copy.write_text(_with_probe(text), encoding="utf-8")
        cmd = [
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--virtual-time-budget={VIRTUAL_TIME_MS}",
            "--dump-dom",
            copy.as_uri(),
        ]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReportError(f"{page.name}: chromium did not run: {exc}") from exc
    result = _probe_result(run.stdout)
    if result is None:
        tail = run.stderr.strip().splitlines()[-1:] or ["no output"]
        check.problems.append(
            f"the page did not finish loading in chromium (exit {run.returncode}: {tail[0]})"
        )
        return check
    _read_probe(check, result, scan.images)
    return check


def pages_of(paths: Sequence[Path | str]) -> list[Path]:
    """The ``*.html`` pages named, directories expanded (sorted); ReportError for a missing path."""
    pages: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            pages += sorted(p.glob("*.html"))
        elif p.is_file():
            pages.append(p)
        else:
            raise ReportError(f"{p}: no such page or directory")
    return pages


def check_pages(paths: Sequence[Path | str], jobs: int | None = None) -> list[PageCheck]:
    """Check every page (directories expanded to their ``*.html``), ``jobs`` browsers at a time."""
    pages = pages_of(paths)
    chromium = _require_chromium()
    workers = max(1, min(jobs or (os.cpu_count() or 1), len(pages) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda page: check_page(page, chromium), pages))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tdxlib.report.browser [PAGE|DIR ...]``: 0 when every page shows every chart."""
    parser = argparse.ArgumentParser(
        prog="python -m tdxlib.report.browser",
        description="Open reports in headless chromium with the network off and check every chart drew.",
    )
    parser.add_argument("paths", nargs="*", default=["reports"], metavar="PAGE|DIR", help="default: reports")
    parser.add_argument("--jobs", "-j", type=int, metavar="N", help="browsers in parallel (default: cores)")
    args = parser.parse_args(argv)
    try:
        checks = check_pages(args.paths, args.jobs)
    except ReportError as exc:
        print(f"tdxlib: error: {exc}", file=sys.stderr)
        return 2
    if not checks:
        print(f"tdxlib: error: no *.html under {', '.join(args.paths)}", file=sys.stderr)
        return 2
    for check in checks:
        print(check.line())
    bad = [c for c in checks if not c.ok]
    charts = sum(c.drawn for c in checks)
    print(f"{len(checks)} pages, {charts} charts drawn in chromium; {len(bad)} with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
