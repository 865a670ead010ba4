"""The annotated proposal as HTML: each annotation beside the GHCI section it is anchored to, with
the evidence from the suite next to it.

:func:`render_html` returns a self-contained fragment (scoped CSS, no script, no external resource)
for a notebook (``IPython.display.HTML``) or, with ``full_page=True``, a whole page. Every piece of
text from a proposal or an evaluation goes through :func:`html.escape`; links are only built from
URLs the schema accepted (``http(s)://``) and from Message-IDs (to lore.kernel.org).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Any, cast
from urllib.parse import quote

import pandas as pd

from tdxlib.argument.proposals import catalog
from tdxlib.argument.proposals.evaluate import VERDICTS, worst
from tdxlib.argument.proposals.schema import Annotation, Change, Proposal, Source
from tdxlib.errors import ValidationError

__all__ = ["VERDICT_COLOURS", "evaluation_table", "render_html"]

#: Background colour of each verdict (text stays black; colour-blind safe order of severity).
VERDICT_COLOURS: dict[str, str] = {
    "loses notifications": "#D55E00",
    "hangs": "#CC79A7",
    "times out": "#E69F00",
    "fails": "#9E9AC8",
    "refuses CPU offline": "#56B4E9",
    "wastes vectors": "#F0E442",
    "slow": "#D9D9D9",
    "ok": "#8FD6B8",
}
_KIND_COLOURS = {
    "ambiguity": "#E69F00",
    "normative-change": "#0072B2",
    "question": "#56B4E9",
    "risk": "#D55E00",
    "decision": "#009E73",
}

_CSS = """
.tdxp{font-family:Helvetica Neue,Arial,Liberation Sans,DejaVu Sans,sans-serif;font-size:14px;color:#222}
.tdxp{max-width:1100px}
.tdxp h2{margin:.2em 0}
.tdxp h3{margin:1.2em 0 .4em;border-bottom:1px solid #ddd}
.tdxp .meta{color:#555}
.tdxp .badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;color:#fff}
.tdxp .verdict{display:inline-block;padding:1px 6px;border-radius:4px;font-size:12px;color:#000}
.tdxp .verdict{white-space:nowrap}
.tdxp table{border-collapse:collapse;margin:.3em 0;font-size:13px}
.tdxp td,.tdxp th{border:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}
.tdxp th{background:#f4f4f4;white-space:nowrap}
.tdxp .row{display:grid;grid-template-columns:minmax(240px,2fr) 3fr;gap:14px;margin:.6em 0 1.2em}
.tdxp .spec{background:#f7f7f2;border-left:4px solid #999;padding:6px 10px}
.tdxp .spec .src{color:#666;font-size:12px}
.tdxp .note{border-left:4px solid #ccc;padding:4px 10px;margin:0 0 10px}
.tdxp .note .who{color:#555;font-size:12px}
.tdxp .change{border-left:4px solid #0072B2;padding:4px 10px;margin:0 0 10px}
.tdxp .small{font-size:12px;color:#555}
.tdxp code{background:#f2f2f2;padding:0 3px}
"""


def _e(value: Any) -> str:
    """Escape anything for HTML text and attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def _verdict(v: str, title: str = "") -> str:
    colour = VERDICT_COLOURS.get(v, "#ddd")
    tip = f' title="{_e(title)}"' if title else ""
    return f'<span class="verdict" style="background:{colour}"{tip}>{_e(v)}</span>'


def _source(src: Source) -> str:
    parts = [_e(p) for p in (src.author, src.date.isoformat() if src.date else None) if p]
    if src.section and src.section in catalog.known_sections():
        parts.append(f"GHCI {_e(catalog.known_sections()[src.section].label)}")
    if src.message_id:
        lore = "https://lore.kernel.org/all/" + quote(src.message_id.strip("<>"), safe="@.-_+") + "/"
        parts.append(f'<a href="{_e(lore)}">{_e(src.message_id)}</a>')
    if src.commit:
        parts.append(f"<code>{_e(src.commit)}</code>")
    if src.url and src.url.startswith(("http://", "https://")):
        parts.append(f'<a href="{_e(src.url)}">{_e(src.url)}</a>')
    if src.note:
        parts.append(_e(src.note))
    return ", ".join(parts)


def _change(change: Change) -> str:
    lines = [f"<b>{_e(change.tdvmcall)}</b>"]
    if change.leaf != "unchanged":
        lines.append(f"leaf <b>{_e(change.leaf)}</b>")
    lines.append(_e(change.summary))
    items = []
    for a in change.arguments:
        rng = f" [{a.range[0]}..{a.range[1]}]" if a.range else ""
        items.append(
            f"<li>{_e(a.action)} <code>{_e(a.reg)}</code> = {_e(a.name)}{_e(rng)}: {_e(a.meaning)}</li>"
        )
    for w in change.wording:
        items.append(f"<li>wording: “{_e(w.before)}” → “{_e(w.after)}”: {_e(w.statement)}</li>")
    if change.targeting:
        items.append(f"<li>VMM targeting rule: <code>{_e(change.targeting)}</code></li>")
    body = " — ".join(lines) + (f"<ul>{''.join(items)}</ul>" if items else "")
    return f'<div class="change"><span class="small">proposed change</span><br>{body}</div>'


def _tip(rows: pd.DataFrame) -> str:
    """Tooltip numbers of the runs behind one verdict cell."""
    # column first: a whole mixed-type row (iloc) costs ten times more
    p50, problems = rows["latency_p50_ms"].iat[0], cast(object, rows["problems"].iat[0])
    p50_text = "n/a" if not isinstance(p50, float) or math.isnan(p50) else f"{p50:.0f} ms"
    return (
        f"lost {int(rows['lost_notifications'].sum())}, hung {int(rows['hung'].sum())}, "
        f"completed {int(rows['completed'].sum())}/{int(rows['quotes'].sum())}, p50 {p50_text}, "
        f"vectors {int(rows['vectors_consumed'].max())}; {problems or 'no problem'}"
    )


def _grid(evaluation: pd.DataFrame, scenarios: Iterable[str]) -> str:
    """Verdicts of ``scenarios`` × VMMs (worst over seeds), numbers in the tooltips."""
    names = [s for s in scenarios if s in set(evaluation["scenario"])]
    if not names:
        return '<p class="small">(none of the named scenarios is in this suite)</p>'
    vmms = list(dict.fromkeys(evaluation["vmm"]))
    head = "".join(f"<th>{_e(v)}</th>" for v in vmms)
    # one pass over the frame, not two masks per cell
    cell_rows = dict(iter(evaluation.groupby(["scenario", "vmm"], sort=False)))
    body = []
    for s in names:
        cells = []
        for v in vmms:
            rows = cell_rows.get((s, v))
            cells.append(
                f"<td>{_verdict(worst(rows['verdict']), _tip(rows))}</td>"
                if rows is not None
                else "<td></td>"
            )
        body.append(f"<tr><th>{_e(s)}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th>scenario</th>{head}</tr>{''.join(body)}</table>"


def _annotation(note: Annotation, evaluation: pd.DataFrame | None) -> str:
    colour = _KIND_COLOURS.get(note.kind, "#777")
    anchor = note.anchor.tdvmcall or catalog.known_sections()[note.anchor.section].tdvmcall
    head = (
        f'<span class="badge" style="background:{colour}">{_e(note.kind)}</span> '
        f'<span class="who">{_e(note.author)}, {_e(note.date.isoformat())} · status {_e(note.status)} · '
        f"{_e(anchor)}</span>"
    )
    out = [f'<div class="note" style="border-color:{colour}">{head}<p>{_e(note.text)}</p>']
    if note.sources:
        out.append('<p class="small">' + "; ".join(_source(s) for s in note.sources) + "</p>")
    if evaluation is not None and note.evidence:
        out.append('<p class="small">evidence from the suite (hover for numbers):</p>')
        out.append(_grid(evaluation, note.evidence))
    out.append("</div>")
    return "".join(out)


def evaluation_table(evaluation: pd.DataFrame) -> pd.DataFrame:
    """The columns a reader needs from :func:`tdxlib.argument.proposals.evaluate` (one row per run)."""
    cols = [
        "scenario",
        "vmm",
        "seed",
        "verdict",
        "completed",
        "quotes",
        "hung",
        "lost_notifications",
        "spurious_interrupts",
        "latency_p50_ms",
        "latency_p99_ms",
        "vectors_consumed",
        "offline_refused",
        "new_elements",
    ]
    out = evaluation[cols].copy()
    for c in ("latency_p50_ms", "latency_p99_ms"):
        out[c] = out[c].round(0)
    return out


def _evaluation_html(evaluation: pd.DataFrame) -> str:
    table = evaluation_table(evaluation)
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    rows = []
    for rec in table.to_dict("records"):
        cells = []
        for c in table.columns:
            v = rec[c]
            if c == "verdict":
                cells.append(f"<td>{_verdict(str(v))}</td>")
            elif isinstance(v, float):
                cells.append(f"<td>{'' if math.isnan(v) else _e(f'{v:.0f}')}</td>")
            else:
                cells.append(f"<td>{_e(v)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    legend = " ".join(_verdict(v) for v in VERDICTS)
    return (
        f"<p class='small'>verdicts, worst first: {legend}</p><table><tr>{head}</tr>{''.join(rows)}</table>"
    )


def render_html(
    proposal: Proposal, evaluation: pd.DataFrame | None = None, *, full_page: bool = False
) -> str:
    """The annotated proposal: header, each touched GHCI section with its changes and annotations
    beside it (and their evidence from ``evaluation``), the rationale, the evaluation table."""
    if not isinstance(proposal, Proposal):
        raise ValidationError("proposal", type(proposal).__name__, "a tdxlib.argument.proposals.Proposal")
    p = proposal
    sections = catalog.known_sections()
    out = [f"<style>{_CSS}</style>", '<div class="tdxp">']
    out.append(f"<h2>{_e(p.id)}: {_e(p.title)}</h2>")
    vmm = p.vmm_profile()
    out.append(
        f'<p class="meta">status <b>{_e(p.status)}</b> · changes {_e(p.base_spec)} · guest strategy '
        f"<code>{_e(p.strategy.label())}</code> on <code>{_e(p.strategy.layout)}</code> · VMM "
        f"<code>{_e(vmm.name)}</code> ({_e(vmm.title)})</p>"
    )
    out.append(f"<p>{_e(p.summary)}</p>")
    if evaluation is not None and len(evaluation):
        own = evaluation[(evaluation["vmm"] == "proposal") & ~evaluation["misuse"].astype(bool)]
        out.append(
            f"<p>Suite <b>{_e(evaluation.attrs.get('suite', ''))}</b>: on its own VMM "
            f"{_verdict(worst(own['verdict']))}; new spec elements: "
            f"<b>{int(evaluation['new_elements'].iloc[0])}</b>.</p>"
        )
    out.append("<h3>The spec, annotated</h3>")
    touched = p.sections()
    if not touched:
        out.append('<p class="small">No section is changed or annotated.</p>')
    for number in touched:
        sec = sections[number]
        left = (
            f'<div class="spec"><b>§{_e(sec.number)} {_e(sec.title)}</b> <span class="src">({_e(sec.spec)})'
            f'</span><p>{_e(sec.summary)}</p><p class="src">our paraphrase; source: {_e(sec.source)}</p>'
            "</div>"
        )
        right = [_change(c) for c in p.changes if c.section == number]
        right += [_annotation(a, evaluation) for a in p.annotations if a.anchor.section == number]
        out.append(f'<div class="row">{left}<div>{"".join(right)}</div></div>')
    unanchored = [c for c in p.changes if c.section is None]
    if unanchored:
        out.append("<h3>Changes without a section</h3>" + "".join(_change(c) for c in unanchored))
    out.append("<h3>Rationale</h3><ol>")
    for r in p.rationale:
        cites = "; ".join(_source(s) for s in r.sources)
        out.append(f'<li>{_e(r.point)}<br><span class="small">{cites}</span></li>')
    out.append("</ol>")
    if evaluation is not None and len(evaluation):
        out.append("<h3>Evaluation</h3>")
        out.append(_evaluation_html(evaluation))
    out.append("</div>")
    body = "\n".join(out)
    if not full_page:
        return body
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(p.id)}: {_e(p.title)}</title></head><body>\n{body}\n</body></html>\n"
    )
