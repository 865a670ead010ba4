"""Executed notebook -> one self-contained HTML page that renders with no network.

nbconvert's ``lab`` page loads require.js, MathJax, mermaid and the widget manager from CDNs, and has
no Vega renderer. We extend the ``lab`` template with those blocks emptied (its CSS is inlined already),
hide code (``exclude_input``), drop our record outputs and widget views, turn any Vega-Lite output
into inline SVG with vl-convert, and finally scan the page: anything that would still load from off
the page is an error, never a silently blank chart.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tdxlib.errors import ReportError
from tdxlib.files import atomic_write_text
from tdxlib.report.index import notebook_anchor
from tdxlib.report.records import RECORD_MIME
from tdxlib.workbook.svg import CHART_MIME, vegalite_svg

_TEMPLATE_NAME = "tdxlib_offline.html.j2"
_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}<style type="text/css">{{ resources.tdxlib_css }}</style>{%- endblock extra_css -%}
{%- block body_header -%}{{ super() }}{{ resources.tdxlib_header }}{%- endblock body_header -%}
{%- block footer_js -%}{%- endblock footer_js -%}
"""
_CSS = """
.tdxlib-header { font-family: var(--jp-ui-font-family, sans-serif); padding: 0.6em 1em;
  border-bottom: 1px solid #ccc; margin-bottom: 1em; font-size: 0.9em; color: #333; }
.tdxlib-header a { margin-right: 1em; }
.tdxlib-header code { background: #f4f4f4; padding: 0 0.25em; }
.jp-RenderedSVG svg { max-width: 100%; height: auto; }
.jp-OutputArea-output { overflow-x: auto; }
.jp-RenderedHTMLCommon .tdxlib-table { overflow-x: auto; max-width: 100%; }
"""
_VEGALITE = re.compile(r"^application/vnd\.vegalite\.v\d+(?:\+json|\.json)$")
_DROP_MIME = ("application/vnd.jupyter.widget-view+json", "application/javascript")
_URL_IN_SCRIPT = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[/"'`]""")
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")
#: (tag, attribute) pairs that make a browser fetch a resource.
RESOURCE_ATTRS = {
    ("script", "src"),
    ("link", "href"),
    ("img", "src"),
    ("img", "srcset"),
    ("iframe", "src"),
    ("frame", "src"),
    ("embed", "src"),
    ("object", "data"),
    ("source", "src"),
    ("source", "srcset"),
    ("video", "src"),
    ("video", "poster"),
    ("audio", "src"),
    ("track", "src"),
    ("input", "src"),
    ("image", "href"),
    ("image", "xlink:href"),
    ("use", "href"),
    ("use", "xlink:href"),
    ("feimage", "href"),
}


def _on_page(url: str) -> bool:
    """True when fetching ``url`` needs nothing outside this page (data: URI or #fragment)."""
    url = url.strip()
    return url == "" or url.startswith(("#", "data:")) or url == "about:blank"


class _Scanner(HTMLParser):
    """Collects every reference that would be fetched from off the page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        for name, value in attrs:
            name = name.lower()
            if value is None:
                continue
            if (tag, name) in RESOURCE_ATTRS:
                urls = [u.strip().split(" ")[0] for u in value.split(",")] if "srcset" in name else [value]
                for url in urls:
                    if not _on_page(url):
                        self.problems.append(f"<{tag} {name}={url!r}>")
            elif name == "style":
                self._css(value, f"<{tag} style>")
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self._css(data, "<style>")
        elif self._in == "script":
            for m in _URL_IN_SCRIPT.finditer(data):
                self.problems.append(f"<script> refers to {m.group(0)[:-1]!r}")

    def _css(self, text: str, where: str) -> None:
        for m in _CSS_URL.finditer(text):
            url = m.group(1) or m.group(2)
            if url and not _on_page(url):
                self.problems.append(f"{where} url({url!r})")


def offline_problems(page: str) -> list[str]:
    """Every script, style, image or frame in ``page`` that would load from off the page."""
    scanner = _Scanner()
    scanner.feed(page)
    scanner.close()
    return scanner.problems


_WARM_SPEC = {"data": {"values": [{"a": 1}]}, "mark": "bar", "encoding": {"x": {"field": "a"}}}


def warm_up() -> None:
    """Start vl-convert's engine (~0.7 s on first use) and compile the HTML templates (imports
    nbconvert, mistune, pygments): what the report renderer does before its first request."""
    # nbformat and jsonschema: only when a notebook is read or written
    import nbformat

    svg = vegalite_svg(_WARM_SPEC)
    cell = nbformat.v4.new_code_cell("x", execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="x\n"),
        nbformat.v4.new_output("display_data", data={"image/svg+xml": svg, "text/plain": "x"}),
    ]
    warm = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Warm *up*\n\n`x` [a](#b)"), cell])
    export_html(warm, "warm-up")


#: Cached SVGs unused for this long are removed by :func:`prune_svg_cache`.
SVG_CACHE_DAYS = 30


def cached_svg(
    spec: Mapping[str, Any], cache_dir: Path | None, render: Callable[[Mapping[str, Any]], str] | None = None
) -> str:
    """``render(spec)`` (default :func:`vegalite_svg`), remembered on disk by a hash of the spec
    (rendering is deterministic).

    A rebuild after a tdxlib change re-executes every notebook, but most charts come out identical:
    their SVGs are read back instead of rendered again (~0.1 s each).
    """
    render = render or vegalite_svg
    if cache_dir is None:
        return render(spec)
    # vl-convert (a JS engine): only when a chart is drawn
    import vl_convert as vlc

    key = hashlib.sha256(
        (
            json.dumps(spec, sort_keys=True, ensure_ascii=False)
            + "\0"
            + str(getattr(vlc, "__version__", ""))
            + "\0own-ids"  # SVGs cached before _own_ids kept vega's process-wide gradient numbers
        ).encode()
    ).hexdigest()
    path = cache_dir / f"{key}.svg"
    try:
        svg = path.read_text(encoding="utf-8")
        os.utime(path)
        return svg
    except OSError:
        pass
    svg = render(spec)

    atomic_write_text(path, svg)
    return svg


def prune_svg_cache(cache_dir: Path, days: float = SVG_CACHE_DAYS) -> int:
    """Delete cached SVGs not used for ``days``; returns how many."""
    if not cache_dir.is_dir():
        return 0
    limit = time.time() - days * 86400
    removed = 0
    for path in cache_dir.glob("*.svg"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
    return removed


def render_charts(
    nb: Any, cache_dir: Path | None = None, render: Callable[[Mapping[str, Any]], str] | None = None
) -> list[tuple[int, str]]:
    """Render every deferred chart output (``CHART_MIME``) of ``nb`` to inline SVG, in place, with
    ``render`` (default :func:`vegalite_svg`; a build passes its report renderer's ``svg``).

    Returns the (1-based cell number, error) of the charts that could not be rendered.
    """
    failures = []
    for number, cell in enumerate(nb.get("cells", []), start=1):
        for output in cell.get("outputs", []) or []:
            data = output.get("data")
            if isinstance(data, dict) and CHART_MIME in data:
                spec = data.pop(CHART_MIME)
                try:
                    data["image/svg+xml"] = cached_svg(spec, cache_dir, render)
                except ReportError:
                    raise  # the renderer itself is gone: not this chart's fault
                except Exception as exc:  # vl-convert raises plain exceptions
                    failures.append((number, f"{type(exc).__name__}: {exc}"))
    return failures


def _clean_output(output: dict[str, Any]) -> dict[str, Any] | None:
    """The output as it should appear offline, or None to drop it."""
    data = output.get("data")
    if not isinstance(data, dict):
        return output
    if RECORD_MIME in data:
        return None
    for mime in [m for m in data if m == CHART_MIME or _VEGALITE.match(m)]:
        spec = data.pop(mime)
        data.pop("text/html", None)
        data.pop("application/javascript", None)
        data["image/svg+xml"] = vegalite_svg(spec)
    for mime in _DROP_MIME:
        data.pop(mime, None)
    if not data or (set(data) == {"text/plain"} and not str(data["text/plain"]).strip()):
        return None
    return output


def prepare_for_export(nb: Any) -> Any:
    """Strip what cannot or should not be shown offline (records, widgets, CDN-backed outputs)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            cleaned = _clean_output(output)
            if cleaned is not None:
                kept.append(cleaned)
        cell["outputs"] = kept
    return nb


def header_html(title: str, items: Mapping[str, str], index_href: str | None = "index.html") -> str:
    """A small page header: title, key facts (escaped) and a link back to the index."""
    parts = [f"<header class='tdxlib-header'><strong>{html.escape(title)}</strong><br>"]
    if index_href:
        parts.append(f"<a href='{html.escape(index_href)}'>&larr; all reports</a>")
    parts += [f"{html.escape(k)}: <code>{html.escape(v)}</code> " for k, v in items.items()]
    parts.append("</header>")
    return "".join(parts)


_EXPORT_LOCK = threading.RLock()
_exporters: list[Any] = []


def _exporter() -> Any:
    """The shared HTMLExporter, its templates compiled (once per process, not once per page)."""
    with _EXPORT_LOCK:
        if not _exporters:
            _exporters.append(_new_exporter())
        return _exporters[0]


_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)", re.IGNORECASE)
_FOCUSABLE = re.compile(r'<div class="([^"]*\b(?:jp-Cell-inputWrapper|jp-OutputArea-output)\b[^"]*)"')


def _accessible(page: str) -> str:
    """What nbconvert's HTMLExporter does with BeautifulSoup, done with two regular expressions.

    nbconvert parses the whole page to give images without ``alt`` a text and to make inputs and
    outputs focusable; on pages with inline SVG charts that parse costs more than the rest of the
    export together, and the page we emit has a fixed, known shape.
    """
    page = _IMG_WITHOUT_ALT.sub('<img alt="No description has been provided for this image"', page)
    return _FOCUSABLE.sub(r'<div tabindex="0" class="\1"', page)


def _new_exporter() -> Any:
    # nbconvert, jinja2, mistune: only when a page is exported
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
    from traitlets.config import Config

    class OfflineHTMLExporter(HTMLExporter):
        """HTMLExporter minus its BeautifulSoup pass (see :func:`_accessible`)."""

        def from_notebook_node(  # type: ignore[override]  # nbconvert's own override returns str too
            self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
        ) -> tuple[str, dict[str, Any]]:
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            resources = self._init_resources(resources)
            self.register_filter(
                "highlight_code",
                self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)),
            )
            self.register_filter(
                "filter_data_type",
                WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self, resources=resources),
            )
            page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _accessible(page), resources

    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = {"remove-cell", "injected-parameters"}
    config.TagRemovePreprocessor.remove_all_outputs_tags = {"remove-output"}
    exporter = OfflineHTMLExporter(
        config=config,
        template_name="lab",
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        optimistic_validation=True,  # validate the notebook once, not again after every preprocessor
    )
    exporter.template_file = _TEMPLATE_NAME
    return exporter


#: A relative link to a sibling notebook (``href="02_vector_budget.ipynb#..."``) in the exported page.
_NOTEBOOK_LINK = re.compile(r"""href=(["'])([A-Za-z0-9_.-]+)\.ipynb(?:#[^"']*)?\1""")


def link_notebooks_to_index(page: str) -> str:
    """Point links to sibling notebooks at their runs in the index: a report has no ``.ipynb`` beside
    it to open, and a notebook may run under several parameter sets (the index lists them all)."""
    return _NOTEBOOK_LINK.sub(
        lambda m: f"href={m[1]}index.html#{html.escape(notebook_anchor(m[2]))}{m[1]}", page
    )


def export_html(nb: Any, title: str, header: str = "") -> str:
    """The executed notebook ``nb`` (a NotebookNode) as an offline HTML page; raises ReportError if not."""
    nb = prepare_for_export(nb)
    nb.metadata["title"] = title
    with _EXPORT_LOCK:  # one exporter, used by one thread at a time
        page, _ = _exporter().from_notebook_node(
            nb, resources={"tdxlib_css": _CSS, "tdxlib_header": header, "metadata": {"name": title}}
        )
    page = link_notebooks_to_index(str(page))
    problems = offline_problems(page)
    if problems:
        shown = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
        raise ReportError(f"{title}: the HTML would load from off the page: {shown}")
    return str(page)
