"""What a notebook hands to the report pipeline: key metrics and the claims ledger.

A notebook calls :func:`record` / :func:`record_metrics` / :func:`record_ledger`; each call displays
one output whose MIME type is :data:`RECORD_MIME` (a JSON blob, plus an empty ``text/plain`` so
JupyterLab shows nothing). The pipeline reads those outputs back from the executed notebook with
:func:`collect_records` and strips them from the HTML. Light on purpose: json only, no pandas.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from tdxlib.errors import ValidationError

#: MIME type of a record output in a notebook.
RECORD_MIME = "application/vnd.tdxlib.record+json"
#: Default relative tolerance of a numeric metric in ``--check`` (deterministic models: tight).
DEFAULT_REL_TOL = 1e-9
#: Ledger columns every row must have (``tdxlib.argument.claims.ledger()`` has all of these).
LEDGER_COLUMNS = ("id", "author", "claim", "verdict", "evidence")

_recorded: list[dict[str, Any]] = []


def _plain(value: Any) -> Any:
    """``value`` as plain JSON data (numpy scalars and arrays, tuples, mappings); raises otherwise."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return _plain(value.item())
    raise ValidationError("recorded value", value, "None, bool, int, float, str, or a list/dict of those")


def _emit(payload: dict[str, Any]) -> None:
    """Remember ``payload`` and, inside IPython, display it as a record output."""
    _recorded.append(payload)
    try:
        # IPython: only inside a kernel
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: the in-process list is all there is
        return
    if get_ipython() is not None:
        display({RECORD_MIME: payload, "text/plain": ""}, raw=True)


def record(
    name: str,
    value: Any,
    *,
    rel_tol: float = DEFAULT_REL_TOL,
    abs_tol: float = 0.0,
    unit: str | None = None,
) -> None:
    """Record one key metric; ``--check`` fails when it drifts beyond ``rel_tol``/``abs_tol``."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("metric name", name, "a non-empty string")
    for what, tol in (("rel_tol", rel_tol), ("abs_tol", abs_tol)):
        if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol >= 0 or math.isinf(tol):
            raise ValidationError(what, tol, "a finite number >= 0")
    plain = _plain(value)
    if isinstance(plain, float) and not math.isfinite(plain):
        raise ValidationError(f"metric {name!r}", value, "a finite number (JSON has no NaN/inf)")
    payload: dict[str, Any] = {
        "kind": "metric",
        "name": name,
        "value": plain,
        "rel_tol": float(rel_tol),
        "abs_tol": float(abs_tol),
    }
    if unit is not None:
        payload["unit"] = str(unit)
    _emit(payload)


def record_metrics(
    metrics: Mapping[str, Any], *, rel_tol: float = DEFAULT_REL_TOL, abs_tol: float = 0.0
) -> None:
    """Record several key metrics at once, all with the same tolerances."""
    if not isinstance(metrics, Mapping):
        raise ValidationError("metrics", metrics, "a mapping of name -> value")
    for name, value in metrics.items():
        record(name, value, rel_tol=rel_tol, abs_tol=abs_tol)


def _ledger_rows(ledger: Any) -> list[dict[str, Any]]:
    """Rows of a DataFrame (``to_dict("records")``) or of an iterable of mappings."""
    if hasattr(ledger, "to_dict") and hasattr(ledger, "columns"):
        rows = ledger.to_dict(orient="records")
    elif isinstance(ledger, Iterable) and not isinstance(ledger, (str, bytes, Mapping)):
        rows = list(ledger)
    else:
        raise ValidationError("ledger", type(ledger).__name__, "a DataFrame or a list of row mappings")
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValidationError(f"ledger row {i}", row, "a mapping")
        missing = [c for c in ("id", "verdict") if c not in row]
        if missing:
            raise ValidationError(f"ledger row {i} columns", sorted(row), f"at least {', '.join(missing)}")
        out.append({str(k): _plain(v) for k, v in row.items()})
    ids = [str(r["id"]) for r in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValidationError("ledger claim ids", dupes, "unique ids")
    return out


def record_ledger(ledger: Any) -> None:
    """Record the claims ledger (``claims.ledger()``: id, author, claim, verdict, evidence)."""
    _emit({"kind": "ledger", "rows": _ledger_rows(ledger)})


def recorded() -> list[dict[str, Any]]:
    """Every record made in this process so far (what a plain-Python run of a notebook produced)."""
    return [dict(p) for p in _recorded]


def collect_records(nb: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]] | None]:
    """(metrics by name, ledger rows or None) read from an executed notebook's record outputs.

    A later record of the same metric (or a later ledger) replaces the earlier one.
    """
    metrics: dict[str, dict[str, Any]] = {}
    ledger: list[dict[str, Any]] | None = None
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            payload = (output.get("data") or {}).get(RECORD_MIME)
            if isinstance(payload, str):  # some writers keep JSON MIME data as text
                payload = json.loads(payload)
            if not isinstance(payload, Mapping):
                continue
            if payload.get("kind") == "metric":
                entry = {k: payload[k] for k in ("value", "rel_tol", "abs_tol", "unit") if k in payload}
                metrics[str(payload["name"])] = entry
            elif payload.get("kind") == "ledger":
                ledger = [dict(r) for r in payload.get("rows", [])]
    return metrics, ledger
