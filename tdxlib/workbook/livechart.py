"""A live altair chart that updates instead of re-embedding: :class:`LiveChart`, an anywidget.

The chart's Vega-Lite spec is split (:func:`split`) into a *frame* — everything but the data and the
title — sent once, the data as named datasets holding only the columns the spec refers to (columnar:
names once, then values), and the title as a signal. A redraw whose frame is unchanged sends only
datasets and signals; the front end (``js/livechart.js``) applies them to the live vega view as a
changeset. The vega bundle travels with the widget's front-end code (``_esm``, built by vl-convert:
offline, nothing in cell outputs), so a reopened notebook or a restarted kernel draws again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from tdxlib.cache import memo

__all__ = ["TITLE_SIGNAL", "LiveChart", "Split", "adopt", "esm_bundle", "split"]

_JS = Path(__file__).with_name("js") / "livechart.js"
#: The signal that carries the chart's title (so a new title is no new spec).
TITLE_SIGNAL = "tdxlib_title"
_DATUM = re.compile(r"datum(?:\.([A-Za-z_$][\w$]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")


@memo(maxsize=2)
def esm_bundle(source_key: tuple[str, int, int]) -> str:
    """``js/livechart.js`` bundled with vega, vega-lite and vega-embed (vl-convert, ~0.5 s once)."""
    del source_key  # the file's stat key: an edited front end is bundled again
    # reason: vl-convert (~0.1 s to import) is needed only once a live chart is built
    import vl_convert as vlc

    return str(vlc.javascript_bundle(_JS.read_text(encoding="utf-8")))


def _esm() -> str:
    st = _JS.stat()
    return esm_bundle((str(_JS), st.st_mtime_ns, st.st_size))


@dataclass(frozen=True)
class Split:
    """A spec split for the front end: the frame (sent once), its id, the datasets and the signals."""

    frame: dict[str, Any]
    frame_id: str
    data: dict[str, dict[str, list[Any]]]
    signals: dict[str, Any]


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for k, v in node.items():
            yield k
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def referenced(frame: Mapping[str, Any]) -> set[str]:
    """Every name the frame may use as a field: any string in it, and ``datum.x`` / ``datum['x']``."""
    out: set[str] = set()
    for s in _strings(frame):
        out.add(s)
        if "datum" in s:
            out.update(a or b for a, b in _DATUM.findall(s))
    return out


def _rename(node: Any, names: Mapping[str, str]) -> Any:
    """``{"name": old}`` data references renamed to the stable dataset names."""
    if isinstance(node, dict):
        if set(node) == {"name"} and node["name"] in names:
            return {"name": names[node["name"]]}
        return {k: _rename(v, names) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename(v, names) for v in node]
    return node


def _columns(records: list[dict[str, Any]], keep: set[str]) -> dict[str, list[Any]]:
    names = [n for n in (records[0] if records else {}) if n in keep]
    return {n: [r.get(n) for r in records] for n in names}


def _title_signal(frame: dict[str, Any]) -> dict[str, Any]:
    title = frame.get("title")
    if title is None:
        return {}
    text = title.get("text") if isinstance(title, dict) else title
    if isinstance(text, dict):  # already an expression
        return {}
    frame["title"] = {**(title if isinstance(title, dict) else {}), "text": {"expr": TITLE_SIGNAL}}
    frame["params"] = [*frame.get("params", []), {"name": TITLE_SIGNAL, "value": text}]
    return {TITLE_SIGNAL: text}


def split(spec: Mapping[str, Any]) -> Split:
    """The spec as frame + datasets (stable names ``d0``, ``d1``, ... in order of appearance, only
    the columns the frame refers to) + signals (the title)."""
    frame = {k: v for k, v in spec.items() if k != "datasets"}
    datasets = dict(spec.get("datasets") or {})
    names = {old: f"d{i}" for i, old in enumerate(datasets)}
    frame = _rename(frame, names)
    signals = _title_signal(frame)
    keep = referenced({k: v for k, v in frame.items() if k != "params"})
    data = {names[old]: _columns(list(values), keep) for old, values in datasets.items()}
    comparable = {**frame, "params": [p for p in frame.get("params", []) if p.get("name") != TITLE_SIGNAL]}
    frame_id = hashlib.sha1(json.dumps(comparable, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Split(frame, frame_id, data, signals)


class LiveChart(anywidget.AnyWidget):
    """An altair chart in the browser that a redraw updates (``show``): spec once, then data."""

    _esm = traitlets.Unicode().tag(sync=True)
    spec = traitlets.Dict().tag(sync=True)
    spec_id = traitlets.Unicode("").tag(sync=True)
    data = traitlets.Dict().tag(sync=True)
    signals = traitlets.Dict().tag(sync=True)
    renderer = traitlets.Unicode("canvas").tag(sync=True)
    rev = traitlets.Int(0).tag(sync=True)

    def __init__(self, spec: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(_esm=_esm(), **kwargs)
        self.embeds = 0
        self.updates = 0
        if spec is not None:
            self.show(spec)

    def show(self, spec: Mapping[str, Any]) -> str:
        """Draw ``spec`` (a Vega-Lite dict): only datasets and signals when the frame is unchanged.

        Returns ``"update"`` or ``"embed"``: what the front end will do.
        """
        s = split(spec)
        how = "update" if s.frame_id == self.spec_id else "embed"
        with self.hold_sync():
            if how == "embed":
                self.spec = s.frame
                self.spec_id = s.frame_id
            self.data = s.data
            self.signals = s.signals
            self.rev += 1
        if how == "embed":
            self.embeds += 1
        else:
            self.updates += 1
        return how


#: Live charts shown by each notebook cell in its latest run: cell id -> (run's message id, charts).
_BY_CELL: dict[str, tuple[str, list[LiveChart]]] = {}


def _cell_run() -> tuple[str, str] | None:
    """(cell id, message id) of the execute request being run, when the front end named its cell."""
    # reason: IPython is loaded already wherever a chart is displayed; plain Python has no cell
    from IPython import get_ipython

    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    parent = kernel.get_parent() if kernel is not None and hasattr(kernel, "get_parent") else None
    if not parent:
        return None
    cell = (parent.get("metadata") or {}).get("cellId")
    msg = (parent.get("header") or {}).get("msg_id")
    return (str(cell), str(msg)) if cell and msg else None


def adopt(chart: LiveChart) -> LiveChart:
    """Record ``chart`` as shown by the running cell; close what an earlier run of that cell showed."""
    run = _cell_run()
    if run is None:
        return chart
    cell, msg = run
    previous = _BY_CELL.get(cell)
    if previous is not None and previous[0] != msg:
        for old in previous[1]:
            old.close()
        previous = None
    charts = [] if previous is None else previous[1]
    charts.append(chart)
    _BY_CELL[cell] = (msg, charts)
    return chart
