"""Each notebook's claims: which claims it argues, their ledger rows, and a table that re-runs a check
with the notebook's parameters where they differ from the check's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from tdxlib.argument import claims
from tdxlib.errors import CpuOfflineUnsupported, ValidationError

__all__ = ["NOTEBOOK_CLAIMS", "PARAM_ROUTES", "claims_for", "claims_view"]

#: The claims each notebook argues (01 shows them all). Every claim of data/claims appears once in 02..05.
NOTEBOOK_CLAIMS: dict[str, tuple[str, ...]] = {
    "02_vector_budget": ("system-vector-wasteful", "config-gated"),
    "03_who_gets_the_interrupt": (
        "notify-works",
        "any-cpu-needs-system-vector",
        "apic-id-enables-dynamic",
        "caller-vcpu-rule-suffices",
        "getquote-carries-vector",
        "removal-fan-out",
        "early-init-lands-on-cpu0",
    ),
    "04_hotplug": ("hotplug-needs-reregistration",),
    "05_polling": ("may-inject-needs-polling", "timeout-required", "polling-sufficient"),
}

#: Notebook parameters that reach only some checks (parameter -> the claim ids it is passed to).
PARAM_ROUTES: dict[str, dict[str, tuple[str, ...]]] = {
    "05_polling": {"vmm": ("polling-sufficient",)},
}


def _notebook_ids(notebook: str | None) -> list[str] | None:
    if notebook is None or notebook == "01_the_question":
        return None
    if notebook in NOTEBOOK_CLAIMS:
        return list(NOTEBOOK_CLAIMS[notebook])
    raise ValidationError("notebook", notebook, ", ".join(["01_the_question", *NOTEBOOK_CLAIMS]))


def claims_for(notebook: str | None = None) -> pd.DataFrame:
    """The claims ledger of one notebook at the checks' own defaults (``None``/01: every claim).

    This is what each notebook records with ``record_ledger``: it equals the matching rows of
    ``tdxlib.argument.claims.ledger()``, whatever the notebook's parameters.
    """
    frame: pd.DataFrame = claims.ledger(ids=_notebook_ids(notebook))
    return frame.reset_index(drop=True)


def _routed(
    notebook: str, claim_id: str, params: Mapping[str, Any], accepted: Mapping[str, Any]
) -> dict[str, Any]:
    """The notebook parameters one check takes and that differ from that check's defaults."""
    routes = PARAM_ROUTES.get(notebook, {})
    out = {}
    for name, value in params.items():
        if name not in accepted or (name in routes and claim_id not in routes[name]):
            continue
        default = accepted[name]
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        if value != default:
            out[name] = value
    return out


def claims_view(notebook: str, **params: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the notebook's ledger at the checks' defaults and by era, a table to show it with).

    Each check that takes one of ``params`` with a value other than its default is run again with
    it; the table then adds ``verdict here`` and ``evidence here`` columns (the notebook's
    parameters; unchanged checks say so). The first frame is what the notebook records.
    """
    ledger = claims_for(notebook)
    table = ledger[["id", "author", "verdict", "depends_on", "evidence"]].copy()
    here_v, here_e, changed = [], [], False
    for cid, verdict in zip(ledger["id"], ledger["verdict"], strict=True):
        mine = _routed(notebook, cid, params, claims.check.parameters(cid))
        if mine:
            try:
                v = claims.check(cid, **mine)
                here_v.append(v.verdict)
                here_e.append(v.evidence)
            except CpuOfflineUnsupported as exc:  # the notebook's kernel cannot offline CPUs
                here_v.append("moot")
                here_e.append(f"Moot on {exc.kernel}: no CPU can go offline in its TDs ({exc.reason}).")
            changed = True
        else:
            here_v.append(verdict)
            here_e.append("(as above: these parameters do not change this check)")
    if changed:
        table["verdict here"] = here_v
        table["evidence here"] = here_e
    return ledger, table
