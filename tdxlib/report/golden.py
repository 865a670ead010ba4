"""``--check`` / ``--update-golden``: has the argument changed since the golden summary was committed?

The golden file (``reports/summary.golden.json``) keeps, per run, its parameters, the claims' verdicts
and the key metrics with their tolerances — no timings, no commit. :func:`compare` lists every verdict
that flipped (naming the claim and both verdicts), every metric that drifted beyond its tolerance,
and every run, claim or metric that appeared or disappeared.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tdxlib.data import read_text
from tdxlib.errors import DataError
from tdxlib.files import atomic_write_text

GOLDEN_SCHEMA = 1
#: The largest golden file read (the committed one is a few hundred KiB).
GOLDEN_BYTES = 64 * 1024 * 1024


def golden_from_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The golden view of a summary: per run parameters, verdicts (with claim text) and metrics."""
    runs: dict[str, Any] = {}
    for name, r in sorted(summary.get("runs", {}).items()):
        if r.get("status") != "ok":
            continue
        verdicts = {
            str(row["id"]): {
                "verdict": row.get("verdict"),
                "claim": row.get("claim", ""),
                "eras": dict(row.get("eras") or {}),
                "depends_on": row.get("depends_on", ""),
            }
            for row in r.get("ledger") or []
        }
        metrics = {
            k: {"value": m.get("value"), "rel_tol": m.get("rel_tol", 0.0), "abs_tol": m.get("abs_tol", 0.0)}
            for k, m in sorted((r.get("metrics") or {}).items())
        }
        runs[name] = {
            "parameters": r.get("parameters", {}),
            "kernel": r.get("kernel"),
            "verdicts": verdicts,
            "metrics": metrics,
        }
    return {"schema": GOLDEN_SCHEMA, "runs": runs}


def write_golden(path: Path, summary: Mapping[str, Any]) -> bool:
    """Write the golden file from ``summary``; False when it was already identical."""
    text = json.dumps(golden_from_summary(summary), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text)


def read_golden(path: Path) -> dict[str, Any]:
    """Read the committed golden file; DataError naming it when missing, unreadable (a directory, not
    UTF-8, too large) or malformed."""
    if not (path.exists() or path.is_symlink()):
        raise DataError("golden summary not found; create it with `tdxlib report --update-golden`", path)
    try:
        data = json.loads(read_text(path, limit=GOLDEN_BYTES, what="golden summary"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", path, exc.lineno) from None
    if not isinstance(data, dict) or data.get("schema") != GOLDEN_SCHEMA or "runs" not in data:
        raise DataError(f"not a golden summary (schema {GOLDEN_SCHEMA} with 'runs')", path)
    return data


def _close(old: Any, new: Any, rel_tol: float, abs_tol: float) -> bool:
    """Equal within tolerance (numbers, also inside lists/dicts); exact for everything else."""
    if isinstance(old, bool) or isinstance(new, bool):
        return old is new
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return math.isclose(old, new, rel_tol=rel_tol, abs_tol=abs_tol)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(
            _close(a, b, rel_tol, abs_tol) for a, b in zip(old, new, strict=True)
        )
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_close(old[k], new[k], rel_tol, abs_tol) for k in old)
    return bool(old == new)


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)


def _verdict_diffs(name: str, gv: Mapping[str, Any], fv: Mapping[str, Any]) -> list[str]:
    """Claims that appeared, disappeared, or whose overall or per-era verdict flipped."""
    diffs = []
    for cid in sorted(set(gv) | set(fv)):
        if cid not in fv:
            diffs.append(f"{name}: claim {cid} disappeared (golden verdict {_show(gv[cid]['verdict'])})")
        elif cid not in gv:
            diffs.append(f"{name}: new claim {cid} with verdict {_show(fv[cid]['verdict'])}")
        else:
            text = fv[cid].get("claim") or gv[cid].get("claim") or ""
            if gv[cid].get("verdict") != fv[cid].get("verdict"):
                diffs.append(
                    f"{name}: claim {cid} verdict flipped: {_show(gv[cid].get('verdict'))} -> "
                    f"{_show(fv[cid].get('verdict'))}" + (f" — {text}" if text else "")
                )
            ge, fe = gv[cid].get("eras") or {}, fv[cid].get("eras") or {}
            for kernel in sorted(set(ge) | set(fe)):
                if ge.get(kernel) != fe.get(kernel):
                    diffs.append(
                        f"{name}: claim {cid} on {kernel}: {_show(ge.get(kernel))} -> {_show(fe.get(kernel))}"
                    )
    return diffs


def compare(golden: Mapping[str, Any], fresh: Mapping[str, Any], only: set[str] | None = None) -> list[str]:
    """Readable differences between a golden view and a fresh one (both from golden_from_summary).

    ``only`` limits the comparison to those run names (``--only``); empty list = no change.
    """
    diffs: list[str] = []
    g_runs: Mapping[str, Any] = golden.get("runs", {})
    f_runs: Mapping[str, Any] = fresh.get("runs", {})
    names = sorted(set(g_runs) | set(f_runs))
    if only is not None:
        names = [n for n in names if n in only]
    for name in names:
        if name not in f_runs:
            diffs.append(f"{name}: run is in the golden summary but did not produce a fresh result")
            continue
        if name not in g_runs:
            diffs.append(f"{name}: new run, not in the golden summary")
            continue
        g, f = g_runs[name], f_runs[name]
        if g.get("parameters") != f.get("parameters"):
            diffs.append(
                f"{name}: parameters changed: {_show(g.get('parameters'))} -> {_show(f.get('parameters'))}"
            )
        if g.get("kernel") != f.get("kernel"):
            diffs.append(
                f"{name}: kernel profile changed: {_show(g.get('kernel'))} -> {_show(f.get('kernel'))}"
            )
        diffs += _verdict_diffs(name, g.get("verdicts", {}), f.get("verdicts", {}))
        gm, fm = g.get("metrics", {}), f.get("metrics", {})
        for key in sorted(set(gm) | set(fm)):
            if key not in fm:
                diffs.append(f"{name}: metric {key} disappeared (golden {_show(gm[key]['value'])})")
            elif key not in gm:
                diffs.append(f"{name}: new metric {key} = {_show(fm[key]['value'])}")
            else:
                rel = float(gm[key].get("rel_tol", 0.0))
                abs_ = float(gm[key].get("abs_tol", 0.0))
                old, new = gm[key].get("value"), fm[key].get("value")
                if not _close(old, new, rel, abs_):
                    drift = ""
                    if (
                        isinstance(old, (int, float))
                        and isinstance(new, (int, float))
                        and not isinstance(old, bool)
                    ):
                        drift = f" (Δ {new - old:+.6g}; tolerance rel {rel:g}, abs {abs_:g})"
                    diffs.append(f"{name}: metric {key} drifted: {_show(old)} -> {_show(new)}{drift}")
    return diffs
