"""Notebook 03, who gets the interrupt: the strategy × VMM profile delivery matrix, where an early
initcall puts the notify IRQ, the matrix's key numbers and the interactive heatmap."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from tdxlib.cache import memo
from tdxlib.errors import ValidationError
from tdxlib.sim import Metrics
from tdxlib.tdx.vmm import profile_names
from tdxlib.workbook import figures
from tdxlib.workbook.ledgers import claims_view
from tdxlib.workbook.panel import Panel, View, make_panel
from tdxlib.workbook.params import DELIVERY_QUOTES, DELIVERY_STRATEGIES, DELIVERY_VMMS, DeliveryParams
from tdxlib.workbook.simruns import ScenarioKey, metrics_cached, metrics_of, scenario_key, strategy_spec

__all__ = [
    "DELIVERY_QUOTES",
    "DELIVERY_STRATEGIES",
    "DELIVERY_VMMS",
    "METRIC_TITLES",
    "DeliveryParams",
    "delivery_claims",
    "delivery_matrix",
    "delivery_metrics",
    "delivery_panel",
    "delivery_view",
    "irq_placement",
    "profiles_all_completed_key",
]


def _cell_row(strategy: str, vmm: str, m: Metrics) -> dict[str, Any]:
    issued = m.quotes_issued
    injected = m.notifications_injected
    return {
        "strategy": strategy,
        "vmm": vmm,
        "quotes": issued,
        "completed": m.completed,
        "hung": m.hung,
        "timed_out": m.timed_out,
        "failed": m.failed,
        "injected": injected,
        "lost": m.lost_notifications,
        "spurious": m.spurious_interrupts,
        "misdirected": m.misdirected_interrupts,
        "dropped_offline": m.dropped_offline,
        "completed_share": m.completed / issued if issued else math.nan,
        "lost_share": m.lost_notifications / injected if injected else math.nan,
        "vectors_total": m.vectors_total,
        "notify_cpu": m.notify_cpu,
    }


@memo(maxsize=4096)
def _cell(strategy: str, vmm: str, key: ScenarioKey) -> tuple[tuple[str, Any], ...]:
    """One cell's row, frozen (callers share it safely): a redraw re-reads 54 cells."""
    return tuple(_cell_row(strategy, vmm, metrics_of(key)).items())


def delivery_matrix(
    strategies: Sequence[str] = DELIVERY_STRATEGIES,
    vmms: Sequence[str] = DELIVERY_VMMS,
    *,
    cpus: int = 8,
    quotes: int = DELIVERY_QUOTES,
    seed: int = 0,
    workload: str = "open",
    rate_per_s: float = 1.0,
    service_ms: float | None = None,
) -> pd.DataFrame:
    """Strategy × VMM profile: one simulation each; shares of quotes completed and notifications lost.

    ``lost_share`` is lost / injected (NaN where the VMM injected nothing); ``completed_share``
    completed / issued. Open workload by default: v8's worker completes every finished request on
    any handled interrupt, so one lost notification does not stop the run.
    """
    known = set(profile_names())
    rows = []
    for vmm in vmms:
        if vmm not in known:
            raise ValidationError("vmm", vmm, f"one of {', '.join(sorted(known))}")
    for strat in strategies:
        spec = strategy_spec(strat)
        for vmm in vmms:
            key = scenario_key(
                cpus=cpus,
                strategy=spec,
                vmm=vmm,
                quotes=quotes,
                seed=seed,
                workload=workload,
                rate_per_s=rate_per_s,
                service_ms=service_ms,
            )
            rows.append(dict(_cell(strat, vmm, key)))
    return pd.DataFrame(rows)


def profiles_all_completed_key(strategy: str) -> str:
    """The metric naming how many VMM profiles a strategy completes every quote on."""
    return f"{strategy}_profiles_all_completed"


def delivery_metrics(matrix: pd.DataFrame) -> dict[str, Any]:
    """Key numbers of a delivery matrix: cells that lose nothing; per strategy, the profiles it survives."""
    injected = matrix[matrix["injected"] > 0]
    out: dict[str, Any] = {
        "cells": len(matrix),
        "cells_all_completed": int((matrix["completed_share"] == 1.0).sum()),
        "cells_losing_notifications": int((injected["lost"] > 0).sum()),
    }
    for strat, grp in matrix.groupby("strategy", sort=False):
        out[profiles_all_completed_key(str(strat))] = int((grp["completed_share"] == 1.0).sum())
    return out


def irq_placement(cpus: int = 8, device_irqs: Sequence[int] = (0, 20), seed: int = 0) -> pd.DataFrame:
    """Where the dynamically allocated notify IRQ lands: early initcall (before SMP) against late.

    The allocator picks the online CPU with the most free vectors; before SMP bring-up only CPU 0
    is online (Thomas Gleixner, 23 Aug 2023).
    """
    rows = []
    for early in (True, False):
        for dev in device_irqs:
            spec = strategy_spec("caller-vcpu", early=early)
            key = scenario_key(
                cpus=cpus, strategy=spec, vmm="qemu-10.1", quotes=0, device_irqs=dev, seed=seed
            )
            cpu = metrics_cached(key).notify_setup_cpu
            rows.append(
                {
                    "allocated in": "early initcall" if early else "late initcall",
                    "device_irqs": int(dev),
                    "cpus": cpus,
                    "notify_cpu": cpu,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# The notebook's view, panel and claims
# --------------------------------------------------------------------------------------------------

#: What can colour the delivery heatmap -> its chart title.
METRIC_TITLES = {
    "lost_share": "Share of injected notifications lost",
    "completed_share": "Share of quotes completed",
}


def delivery_view(p: DeliveryParams | None = None) -> View:
    """03: strategy × VMM profile delivery matrix coloured by ``metric`` (``quotes`` per cell: 10 by
    default, :data:`DELIVERY_QUOTES`, so that a redraw stays under 100 ms)."""
    p = p or DeliveryParams()
    matrix = delivery_matrix(
        p.rows, p.columns, cpus=p.cpus, quotes=p.quotes, seed=p.seed, workload=p.workload
    )
    shown = matrix[["strategy", "vmm", p.metric, "quotes", "completed", "injected", "lost"]]
    ok = int((matrix["completed_share"] == 1.0).sum())
    caption = (
        f"{ok} of {len(matrix)} strategy × VMM cells complete every quote ({p.cpus} vCPUs, {p.quotes} quotes)"
    )
    title = f"{METRIC_TITLES[p.metric]} ({p.cpus} vCPUs, {p.workload} workload, seed {p.seed})"
    return View(p, matrix, figures.delivery_heatmap(shown, p.metric, title), caption)


def delivery_panel(p: DeliveryParams | None = None) -> Panel:
    """03: metric, vCPUs, quotes, seed, workload, strategies and VMM profiles; the matrix is redrawn."""
    p = p or DeliveryParams()
    names = ("metric", "cpus", "quotes", "seed", "workload", "strategies", "vmms")
    return make_panel("Who gets the interrupt", p, delivery_view, names)


def delivery_claims(p: DeliveryParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The notebook's claims, re-run where its ``cpus`` and ``seed`` differ from a check's defaults."""
    return claims_view(p.NOTEBOOK, cpus=p.cpus, seed=p.seed)
