"""Evidence for a proposal: run it (VMM profile + guest strategy) across a scenario suite, judge each run.

:func:`evaluate` gives one row per scenario × VMM × seed with the numbers the thread argued about —
notifications lost, spurious interrupts, latency p50/p99, vectors consumed, CPU offline refusals,
hangs — the spec elements the proposal needs, and a verdict. :func:`compare` runs several proposals
and pivots the verdicts into one table (a column per proposal). Runs go through
:func:`tdxlib.sim.sweep`, so any ``concurrent.futures`` executor parallelises them.

Verdicts, worst first (a run gets the first that applies; ``problems`` lists all):

=========================  ====================================================================
``loses notifications``    an injected interrupt did not reach the quote driver (spurious,
                           misdirected, dropped at an offline vCPU, pending at the end, displaced)
``hangs``                  a request waits forever (interrupt-only wait, no interrupt coming)
``times out``              a request ended with -ETIMEDOUT
``fails``                  a request failed (GetQuote rejected, service error, -EBUSY)
``refuses CPU offline``    ``lapic_can_unplug_cpu`` refused a CPU offline
``wastes vectors``         the mechanism holds more than one IDT vector (one on every CPU)
``slow``                   median latency above ``SLOW_FACTOR`` × the median service time
``ok``                     none of these
=========================  ====================================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tdxlib.argument.proposals import suites as suite_mod
from tdxlib.argument.proposals.load import builtin_ids, resolve
from tdxlib.argument.proposals.schema import Proposal
from tdxlib.argument.proposals.suites import Suite
from tdxlib.argument.verdicts import RUN_VERDICTS
from tdxlib.cache import active as buildcache_active
from tdxlib.cache import shared_each
from tdxlib.errors import ValidationError
from tdxlib.sim import Scenario, sweep

__all__ = [
    "SLOW_FACTOR",
    "VERDICTS",
    "compare",
    "comparison_set",
    "evaluate",
    "evaluate_all",
    "judge",
    "key_numbers",
    "ledger",
    "verdict_table",
    "worst",
]

#: Verdicts, worst first (defined with the claims' verdicts in :mod:`tdxlib.argument.verdicts`).
VERDICTS: tuple[str, ...] = RUN_VERDICTS
#: "slow" when the median latency exceeds this multiple of the median service time.
SLOW_FACTOR = 2.0

#: Columns of :func:`evaluate`'s frame, in order.
COLUMNS: tuple[str, ...] = (
    "proposal",
    "scenario",
    "misuse",
    "vmm",
    "vmm_kind",
    "vmm_profile",
    "strategy",
    "kernel",
    "layout",
    "cpus",
    "seed",
    "quotes",
    "completed",
    "completed_by_interrupt",
    "completed_by_poll",
    "hung",
    "timed_out",
    "failed",
    "lost_notifications",
    "spurious_interrupts",
    "misdirected",
    "dropped_offline",
    "latency_p50_ms",
    "latency_p99_ms",
    "service_p50_ms",
    "vectors_consumed",
    "vectors_max_per_cpu",
    "device_vectors_free_min",
    "offline_refused",
    "offline_ok",
    "notify_migrations",
    "reregistrations",
    "setup_failures",
    "fanout_callbacks",
    "new_arguments",
    "new_leaves",
    "new_elements",
    "removed_elements",
    "wording_changes",
    "verdict",
    "problems",
)


def judge(row: dict[str, Any]) -> tuple[str, list[str]]:
    """The verdict of one run (the worst problem) and every problem found, from its numbers."""
    problems = []
    if row["lost_notifications"] > 0:
        problems.append("loses notifications")
    if row["hung"] > 0:
        problems.append("hangs")
    if row["timed_out"] > 0:
        problems.append("times out")
    if row["failed"] > 0:
        problems.append("fails")
    if row["offline_refused"] > 0:
        problems.append("refuses CPU offline")
    if row["vectors_consumed"] > 1:
        problems.append("wastes vectors")
    p50, service = row["latency_p50_ms"], row["service_p50_ms"]
    if _finite(p50) and _finite(service) and service > 0 and p50 > SLOW_FACTOR * service:
        problems.append("slow")
    return (problems[0] if problems else "ok"), problems


def worst(verdicts: Iterable[str]) -> str:
    """The worst of several verdicts (``ok`` for none)."""
    ranks = [VERDICTS.index(v) for v in verdicts]
    return VERDICTS[min(ranks)] if ranks else "ok"


def worst_per_group(frame: pd.DataFrame, by: list[str]) -> pd.Series:
    """:func:`worst` of the ``verdict`` column per ``by`` group (groups in order of appearance).

    The verdicts are ranked and the groups take pandas' built-in minimum: the same answer as
    ``groupby(...)["verdict"].agg(worst)`` without a Python call per group.
    """
    rank = frame["verdict"].map({v: i for i, v in enumerate(VERDICTS)})
    if rank.isna().any():
        bad = frame.loc[rank.isna(), "verdict"].iloc[0]
        raise ValidationError("verdict", bad, " | ".join(VERDICTS))
    best = rank.astype(int).groupby([frame[c] for c in by], sort=False).min()
    return best.map(dict(enumerate(VERDICTS)))


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


@dataclass(frozen=True)
class _Job:
    proposal: Proposal
    scenario: str
    misuse: bool
    vmm: str
    vmm_kind: str
    seed: int


def _jobs(proposal: Proposal, suite: Suite, seeds: Sequence[int]) -> tuple[list[_Job], list[Scenario]]:
    """The runs of one proposal in a suite: (metadata, tdxlib.sim.Scenario) in table order."""
    jobs, scenarios = [], []
    own = proposal.vmm_profile()
    for name, spec in suite.scenarios.items():
        try:
            strategy = proposal.build_strategy(spec.strategy_params.given())
        except Exception as exc:  # a suite parameter the proposal's strategy rejects
            raise ValidationError(
                f"suite scenario {name} strategy_params", spec.strategy_params.given(), str(exc)
            ) from None
        for vmm in suite.vmms:
            profile = own if vmm.role == "proposal" else vmm.profile
            for seed in seeds:
                data = {
                    **spec.scenario,
                    "strategy": strategy,
                    "vmm": profile,
                    "kernel": suite.kernel,
                    "layout": proposal.strategy.layout,
                    "seed": seed,
                }
                scenarios.append(Scenario.from_dict(data))
                jobs.append(_Job(proposal, name, spec.misuse, vmm.label, vmm.kind, seed))
    return jobs, scenarios


def _row(job: _Job, result: Any) -> dict[str, Any]:
    m = result.metrics
    sc = result.scenario
    spec = job.proposal.spec_elements()
    row: dict[str, Any] = {
        "proposal": job.proposal.id,
        "scenario": job.scenario,
        "misuse": job.misuse,
        "vmm": job.vmm,
        "vmm_kind": job.vmm_kind,
        "vmm_profile": sc.profile().name,
        "strategy": sc.strategy.label(),
        "kernel": sc.kernel,
        "layout": sc.guest_kernel().layout,
        "cpus": sc.cpus,
        "seed": job.seed,
        "quotes": m.quotes_issued,
        "completed": m.completed,
        "completed_by_interrupt": m.completed_by_interrupt,
        "completed_by_poll": m.completed_by_poll,
        "hung": m.hung,
        "timed_out": m.timed_out,
        "failed": m.failed + m.busy,
        "lost_notifications": m.lost_notifications,
        "spurious_interrupts": m.spurious_interrupts,
        "misdirected": m.misdirected_interrupts + m.displaced_callbacks,
        "dropped_offline": m.dropped_offline + m.pending_at_end,
        "latency_p50_ms": m.latency_ms.get("p50", math.nan),
        "latency_p99_ms": m.latency_ms.get("p99", math.nan),
        "service_p50_ms": m.service_p50_ms,
        "vectors_consumed": m.vectors_total,
        "vectors_max_per_cpu": max(m.vectors_per_cpu) if m.vectors_per_cpu else 0,
        "device_vectors_free_min": m.device_vectors_free_min,
        "offline_refused": m.offline_refused,
        "offline_ok": m.offline_ok,
        "notify_migrations": m.notify_migrations,
        "reregistrations": m.reregistrations,
        "setup_failures": m.setup_failures,
        "fanout_callbacks": m.fanout_callbacks,
        "new_arguments": spec["new_arguments"],
        "new_leaves": spec["new_leaves"],
        "new_elements": spec["new_arguments"] + spec["new_leaves"],
        "removed_elements": spec["removed_elements"],
        "wording_changes": spec["wording_changes"],
    }
    verdict, problems = judge(row)
    row["verdict"] = verdict
    row["problems"] = ", ".join(problems)
    return row


def _proposals(proposals: Iterable[Proposal | str | Path] | Proposal | str | Path | None) -> list[Proposal]:
    if proposals is None:
        return [resolve(i) for i in builtin_ids()]
    if isinstance(proposals, (Proposal, str, Path)):
        return [resolve(proposals)]
    out = [resolve(p) for p in proposals]
    ids = [p.id for p in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValidationError("proposal ids", dupes, "distinct proposals")
    return out


def comparison_set(
    proposal: Proposal | str | Path, others: Iterable[Proposal | str | Path] | None = None
) -> list[Proposal]:
    """``proposal`` and ``others`` (default: every built-in), each once, the built-ins in their order."""
    first = resolve(proposal)
    rest = _proposals(list(others) if others else None)
    if any(p.id == first.id for p in rest):
        return [first if p.id == first.id else p for p in rest]
    return [first, *rest]


def _evaluate(
    chosen: Sequence[Proposal],
    s: Suite,
    suite_name: str | None,
    run_seeds: Sequence[int],
    executor: Executor | None,
) -> dict[str, pd.DataFrame]:
    """Each proposal's rows, simulated in one sweep (in parallel with ``executor``).

    In a report build each proposal is shared on its own (:mod:`tdxlib.cache`): every
    06_proposals kernel asks for the same built-ins, and kernels asking at once split them.
    """
    if suite_name is None or not buildcache_active():
        return _simulate(chosen, s, run_seeds, executor)
    rows = shared_each(
        "evaluations",
        [(p.id, [p.model_dump(mode="json"), suite_name, list(run_seeds)]) for p in chosen],
        lambda i: _simulate([chosen[i]], s, run_seeds, executor)[chosen[i].id],
    )
    return {p.id: r for p, r in zip(chosen, rows, strict=True)}


def _simulate(
    chosen: Sequence[Proposal], s: Suite, run_seeds: Sequence[int], executor: Executor | None
) -> dict[str, pd.DataFrame]:
    """Each of ``chosen``'s rows, simulated (one sweep for all)."""
    jobs: list[_Job] = []
    scenarios: list[Scenario] = []
    for p in chosen:
        j, sc = _jobs(p, s, run_seeds)
        jobs += j
        scenarios += sc
    results = sweep(scenarios, executor, frames=False)  # the rows need only the metrics
    assert isinstance(results, list)
    fresh = pd.DataFrame([_row(j, r) for j, r in zip(jobs, results, strict=True)], columns=list(COLUMNS))
    return {str(pid): rows.reset_index(drop=True) for pid, rows in fresh.groupby("proposal", sort=False)}


def evaluate_all(
    proposals: Iterable[Proposal | str | Path] | Proposal | str | Path | None = None,
    suite: str | Suite = "default",
    *,
    executor: Executor | None = None,
    seeds: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Every proposal (default: the built-ins) across ``suite``: the rows of :func:`evaluate`, stacked."""
    chosen = _proposals(proposals)
    s = suite_mod.suite(suite)
    run_seeds = list(seeds) if seeds is not None else list(s.seeds)
    for seed in run_seeds:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValidationError("seed", seed, "an integer >= 0")
    if not run_seeds:
        raise ValidationError("seeds", run_seeds, "at least one seed")
    suite_name = suite if isinstance(suite, str) else None
    parts = _evaluate(chosen, s, suite_name, run_seeds, executor)
    frame = pd.concat([parts[p.id] for p in chosen], ignore_index=True)
    frame.attrs["suite"] = suite if isinstance(suite, str) else "custom"
    frame.attrs["real_vmms"] = s.real_vmms()
    return frame


def evaluate(
    proposal: Proposal | str | Path,
    suite: str | Suite = "default",
    *,
    executor: Executor | None = None,
    seeds: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Run one proposal across a suite: one row per scenario × VMM × seed (columns: ``COLUMNS``)."""
    return evaluate_all([proposal], suite, executor=executor, seeds=seeds)


def verdict_table(evaluation: pd.DataFrame) -> pd.DataFrame:
    """Pivot an :func:`evaluate_all` frame: rows scenario × VMM, a verdict column per proposal (worst
    over seeds); then the worst on the proposal's own VMM, on the real VMMs and overall (scenarios
    marked ``misuse`` left out), and the number of new spec elements."""
    if evaluation.empty:
        raise ValidationError("evaluation", "an empty frame", "rows from evaluate() / evaluate_all()")
    ids = list(dict.fromkeys(evaluation["proposal"]))
    keys = list(dict.fromkeys(zip(evaluation["scenario"], evaluation["vmm"], strict=True)))
    grouped = worst_per_group(evaluation, ["scenario", "vmm", "proposal"])
    rows = []
    for scenario, vmm in keys:
        row = {"scenario": scenario, "vmm": vmm}
        for pid in ids:
            row[pid] = grouped.get((scenario, vmm, pid), "")
        rows.append(row)
    real = set(evaluation.attrs.get("real_vmms", [])) or set(
        evaluation.loc[evaluation["vmm_kind"] == "real", "vmm"]
    )
    fair = ~evaluation["misuse"].astype(bool)
    summaries = [
        ("(worst)", "own VMM", fair & (evaluation["vmm"] == "proposal")),
        ("(worst)", "real VMMs", fair & evaluation["vmm"].isin(real)),
        ("(worst)", "all", fair),
    ]
    for scenario, vmm, mask in summaries:
        if not mask.any():
            continue
        sub = evaluation[mask]
        row = {"scenario": scenario, "vmm": vmm}
        for pid in ids:
            row[pid] = worst(sub.loc[sub["proposal"] == pid, "verdict"])
        rows.append(row)
    elements = evaluation.groupby("proposal", sort=False)["new_elements"].first()
    rows.append(
        {"scenario": "(spec)", "vmm": "new elements", **{pid: str(int(elements[pid])) for pid in ids}}
    )
    table = pd.DataFrame(rows, columns=["scenario", "vmm", *ids])
    table.attrs.update(evaluation.attrs)
    return table


def compare(
    proposals: Iterable[Proposal | str | Path] | None = None,
    suite: str | Suite = "default",
    *,
    executor: Executor | None = None,
    seeds: Sequence[int] | None = None,
) -> pd.DataFrame:
    """One verdict table across proposals (default: every built-in): :func:`verdict_table` of
    :func:`evaluate_all`."""
    return verdict_table(evaluate_all(proposals, suite, executor=executor, seeds=seeds))


def key_numbers(evaluation: pd.DataFrame) -> dict[str, Any]:
    """A few numbers of one proposal's evaluation, for ``tdxlib.report.record_metrics`` (own-VMM and
    real-VMM figures leave out ``misuse`` scenarios; ``runs``/``ok_runs`` count every row)."""
    ids = list(dict.fromkeys(evaluation["proposal"]))
    if len(ids) != 1:
        raise ValidationError("evaluation proposals", ids, "the rows of exactly one proposal")
    fair = evaluation[~evaluation["misuse"].astype(bool)]
    own = fair[fair["vmm"] == "proposal"]
    real = fair[fair["vmm"].isin(evaluation.attrs.get("real_vmms", []))]
    p50 = own["latency_p50_ms"].to_numpy(dtype=float)
    p50 = p50[np.isfinite(p50)]
    return {
        "runs": len(evaluation),
        "verdict_own_vmm": worst(own["verdict"]),
        "verdict_real_vmms": worst(real["verdict"]) if len(real) else "n/a",
        "ok_runs": int((evaluation["verdict"] == "ok").sum()),
        "lost_notifications_own_vmm": int(own["lost_notifications"].sum()),
        "hung_own_vmm": int(own["hung"].sum()),
        "hung_real_vmms": int(real["hung"].sum()),
        "offline_refused_own_vmm": int(own["offline_refused"].sum()),
        "vectors_consumed_max": int(evaluation["vectors_consumed"].max()),
        "latency_p50_ms_own_vmm_median": float(np.median(p50)) if p50.size else None,
        "new_elements": int(evaluation["new_elements"].iloc[0]),
    }


def ledger(evaluation: pd.DataFrame, proposals: Iterable[Proposal] = ()) -> list[dict[str, Any]]:
    """One ledger row per proposal in ``evaluation`` (for ``tdxlib.report.record_ledger``): id
    ``proposal:<id>``, the first cited author, the title, the worst verdict on its own VMM, and the
    real-VMM verdict and spec cost as evidence (``misuse`` scenarios left out). Titles and authors
    come from ``proposals`` or the built-ins."""
    known = {p.id: p for p in proposals}
    rows = []
    fair = evaluation[~evaluation["misuse"].astype(bool)]
    real = set(evaluation.attrs.get("real_vmms", []))
    for pid in dict.fromkeys(evaluation["proposal"]):
        p = known.get(pid) or (resolve(pid) if pid in builtin_ids() else None)
        sub = fair[fair["proposal"] == pid]
        own = worst(sub.loc[sub["vmm"] == "proposal", "verdict"])
        on_real = worst(sub.loc[sub["vmm"].isin(real), "verdict"]) if real else "n/a"
        elements = int(evaluation.loc[evaluation["proposal"] == pid, "new_elements"].iloc[0])
        author = next((s.author for r in p.rationale for s in r.sources if s.author), "") if p else ""
        rows.append(
            {
                "id": f"proposal:{pid}",
                "author": author,
                "claim": p.title if p else pid,
                "verdict": own,
                "evidence": f"suite {evaluation.attrs.get('suite', '')}: own VMM {own}, real VMMs {on_real}, "
                f"overall {worst(sub['verdict'])}; new spec elements {elements}",
            }
        )
    return rows
