"""A Vega-Lite chart as static SVG (vl-convert): what a headless notebook shows and a report inlines.

Light on purpose (vl-convert is imported on first render): the report pipeline imports it in every
kernel and in its renderer process. :data:`CHART_MIME` marks a chart whose SVG the pipeline renders
after execution instead of the kernel (see :func:`tdxlib.workbook.charts.show`).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from typing import Any

#: MIME type of a chart whose SVG the pipeline renders after execution.
CHART_MIME = "application/vnd.tdxlib.chart+json"

_SCHEMA_VERSION = re.compile(r"/v(\d+)\.(\d+)[.\d]*\.json$")
_VLC_LOCK = threading.Lock()

#: Element ids vega writes into an SVG (gradient fills), numbered by a counter global to the process.
_SVG_ID = re.compile(r'(?<=id=")gradient_(\d+)(?=")|(?<=url\(#)gradient_(\d+)(?=\))')


def _own_ids(svg: str) -> str:
    """The SVG with its gradient ids renamed after its own content and renumbered from 0.

    vega numbers gradients per process, so the same chart came out differently after other charts,
    and two SVGs on one page (one from the cache of an earlier build) could both define
    ``gradient_0``, the second chart then drawn with the first one's gradient. The name is a hash of
    the SVG with the numbers taken out: two charts share ids only if they draw the same gradients.
    """
    if "gradient_" not in svg:
        return svg
    tag = hashlib.sha256(_SVG_ID.sub("gradient", svg).encode()).hexdigest()[:10]
    numbers: dict[str, int] = {}

    def rename(m: re.Match[str]) -> str:
        n = numbers.setdefault(m[1] or m[2], len(numbers))
        return f"gradient_{tag}_{n}"

    return _SVG_ID.sub(rename, svg)


def vegalite_svg(spec: Mapping[str, Any]) -> str:
    """Render a Vega-Lite spec to SVG with vl-convert, using the spec's own Vega-Lite version; the
    same spec always gives the same SVG (see :func:`_own_ids`)."""
    import vl_convert as vlc  # 0.1 s, and a JS engine on first use: only when a chart is drawn

    version = None
    if m := _SCHEMA_VERSION.search(str(spec.get("$schema", ""))):
        wanted = f"{m[1]}.{m[2]}"
        if wanted in list(vlc.get_vegalite_versions()):
            version = wanted
    with _VLC_LOCK:
        if version:
            svg = str(vlc.vegalite_to_svg(dict(spec), vl_version=version))
        else:
            svg = str(vlc.vegalite_to_svg(dict(spec)))
    return _own_ids(svg)
