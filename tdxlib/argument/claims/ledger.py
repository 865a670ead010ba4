"""The claims ledger: every claim of the thread with its verdict per era and overall, in one frame.

One row per claim (claims.yaml order): the overall verdict and what it depends on
(:mod:`~tdxlib.argument.claims.eras`), the verdict on each kernel of the set, and the evidence,
numbers and flips read on one kernel (``kernel``: the check's own default kernel when it is in the
set, else the first of the set; empty for a check that reads no kernel fact).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from tdxlib.argument.claims.eras import Eras, EraVerdict, claim_eras, era_kernels
from tdxlib.argument.claims.registry import Claim, check, claims
from tdxlib.errors import ValidationError

__all__ = ["LEDGER_COLUMNS", "by_era", "ledger", "ledger_row"]

#: Columns of :func:`ledger`, in order.
LEDGER_COLUMNS: tuple[str, ...] = (
    "id",
    "author",
    "claim",
    "verdict",
    "depends_on",
    "eras",
    "kernel",
    "evidence",
    "numbers",
    "flips",
    "source",
)


def _chosen(ids: Iterable[str] | str | None) -> list[Claim]:
    all_claims = claims()
    if ids is None:
        return all_claims
    by_id = {c.id: c for c in all_claims}
    wanted = [ids] if isinstance(ids, str) else list(ids)
    bad = [i for i in wanted if i not in by_id]
    if bad:
        raise ValidationError("claim id", bad[0], f"one of {', '.join(by_id)}")
    return [c for c in all_claims if c.id in set(wanted)]


def _check_params(chosen: list[Claim], params: dict[str, Any]) -> None:
    if "kernel" in params:
        raise ValidationError("ledger parameters", ["kernel"], "kernels=[...] (the eras are what varies)")
    accepted: set[str] = set()
    for c in chosen:
        accepted |= set(check.parameters(c.id)) - {"kernel"}
    unused = sorted(set(params) - accepted)
    if unused:
        raise ValidationError(
            "ledger parameters", unused, f"names some selected check takes: {sorted(accepted)}"
        )


def _shown(claim_id: str, eras: list[EraVerdict]) -> EraVerdict:
    """The era whose evidence the row shows: the check's default kernel if it is in the set."""
    default = check.parameters(claim_id).get("kernel")
    return next((e for e in eras if e.kernel == default), eras[0])


def by_era(
    ids: Iterable[str] | str | None = None, kernels: Iterable[str] | None = None, **params: Any
) -> list[tuple[Claim, Eras]]:
    """Each chosen claim (claims.yaml order) with its verdicts on each kernel of ``kernels`` (default:
    the story's tree kernels); ``params`` as for :func:`ledger`."""
    chosen = _chosen(ids)
    _check_params(chosen, params)
    names = era_kernels(kernels)
    out = []
    for c in chosen:
        mine = {k: v for k, v in params.items() if k in check.parameters(c.id)}
        out.append((c, claim_eras(c.id, names, **mine)))
    return out


def ledger_row(claim: Claim, eras: Eras) -> dict[str, Any]:
    """One row of the ledger (:data:`LEDGER_COLUMNS`): the overall verdict, the verdict per kernel, and
    the evidence read on one kernel (see the module docstring)."""
    shown = _shown(claim.id, list(eras.verdicts))
    return {
        "id": claim.id,
        "author": claim.author,
        "claim": claim.claim,
        "verdict": eras.verdict,
        "depends_on": eras.depends_on,
        "eras": eras.by_kernel(),
        "kernel": shown.kernel if eras.reads else "",
        "evidence": shown.evidence,
        "numbers": dict(shown.numbers),
        "flips": shown.flips,
        "source": claim.source,
    }


def ledger(
    ids: Iterable[str] | str | None = None, kernels: Iterable[str] | None = None, **params: Any
) -> pd.DataFrame:
    """Run the checks of ``ids`` (default: every claim) on each kernel of ``kernels`` (default: the
    story's tree kernels) and tabulate them in claims.yaml order (columns: :data:`LEDGER_COLUMNS`).

    ``params`` go to every check that takes them (e.g. ``seed=3``); a parameter no selected check
    takes is an error, and so is ``kernel`` (give ``kernels=[...]``).
    """
    rows = [ledger_row(c, eras) for c, eras in by_era(ids, kernels, **params)]
    return pd.DataFrame(rows, columns=list(LEDGER_COLUMNS))
