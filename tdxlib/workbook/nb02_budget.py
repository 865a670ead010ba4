"""Notebook 02, the vector budget: what each notify mechanism takes from the device vector space,
where the reserved system vector alone refuses a CPU offline, the layouts compared, a machine capture
answered, and the interactive budget curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tdxlib.errors import ValidationError
from tdxlib.ingest.capture_budget import budget_from_capture
from tdxlib.ingest.captures import capture_names
from tdxlib.kernel import budget
from tdxlib.kernel.vectors import load_layout
from tdxlib.workbook import figures
from tdxlib.workbook.ledgers import claims_view
from tdxlib.workbook.panel import Panel, View, make_panel
from tdxlib.workbook.params import BudgetParams

__all__ = [
    "BUDGET_LOADS",
    "GROWTH_COLUMNS",
    "LAYOUT_VARIANTS",
    "BudgetParams",
    "CaptureAnswer",
    "band_frame",
    "budget_claims",
    "budget_metrics",
    "budget_panel",
    "budget_point",
    "budget_view",
    "capture_answer",
    "capture_names",
    "growth_frame",
    "headroom_frame",
    "layouts_frame",
    "load_frame",
    "offline_limit",
    "vector_space_frame",
    "when_it_matters",
]

#: Layouts compared in 02: (label, layout name, config switches). The third and fourth are the
#: "config-gated" argument: CONFIG_INTEL_TDX_GUEST=y on bare metal (a distribution kernel) and =n.
LAYOUT_VARIANTS: tuple[tuple[str, str, dict[str, bool]], ...] = (
    ("5.19", "linux-5.19", {}),
    ("5.19 + v8, TDX guest", "linux-5.19-tdx-v8", {"TDX_GUEST_DETECTED": True}),
    ("5.19 + v8, not a TD", "linux-5.19-tdx-v8", {"TDX_GUEST_DETECTED": False}),
    ("5.19 + v8, INTEL_TDX_GUEST=n", "linux-5.19-tdx-v8", {"INTEL_TDX_GUEST": False}),
    ("6.12 (polling, merged)", "linux-6.12", {}),
)

_NOTIFY_VECTOR = "TDX_GUEST_EVENT_NOTIFY_VECTOR"


def budget_point(mechanism: str, ncpus: int, device_irqs: int = 0, **config: bool) -> dict[str, Any]:
    """``kernel.budget.budget(...)`` as a row (the boot behind it is cached in tdxlib.kernel.budget)."""
    return budget.budget(mechanism, ncpus, device_irqs, **config).to_dict()


#: Columns of :func:`growth_frame` worth a table in the notebook.
GROWTH_COLUMNS = ["mechanism", "ncpus", "notify_vectors_total", "taken", "taken_share", "device_capacity"]


def growth_frame(cpus: Sequence[int], device_irqs_per_cpu: float = 0.0, **config: bool) -> pd.DataFrame:
    """Per mechanism × CPU count: what the notify mechanism takes from the device vector space.

    ``taken`` is the drop in device capacity against no notify vector at all (v5.19 as released),
    ``taken_share`` the same as a share of that capacity.
    """
    rows = []
    for n in cpus:
        load = round(device_irqs_per_cpu * n)
        base = budget_point("none", n, load, **config)
        for mech in budget.MECHANISMS:
            p = budget_point(mech, n, load, **config)
            taken = base["device_capacity"] - p["device_capacity"]
            rows.append(
                {
                    **p,
                    "load_per_cpu": device_irqs_per_cpu,
                    "taken": taken,
                    "taken_share": taken / base["device_capacity"],
                }
            )
    return pd.DataFrame(rows)


def load_frame(ncpus: int, loads_per_cpu: Sequence[float], **config: bool) -> pd.DataFrame:
    """Per mechanism × device load (IRQs per vCPU): vectors left and vCPUs that could not go offline."""
    return _load_rows(ncpus, [round(per_cpu * ncpus) for per_cpu in loads_per_cpu], config)


def _load_rows(ncpus: int, loads: Sequence[int], config: Mapping[str, bool]) -> pd.DataFrame:
    rows = []
    for load in loads:
        for mech in budget.MECHANISMS:
            p = budget_point(mech, ncpus, int(load), **config)
            rows.append({**p, "load_per_cpu": int(load) / ncpus})
    return pd.DataFrame(rows)


def band_frame(ncpus: int, points: int = 41, **config: bool) -> pd.DataFrame:
    """:func:`load_frame` zoomed on the loads where the mechanisms' offline limits differ.

    Spans from one vCPU's worth of IRQs below the system vector's limit to one above the limit
    without a notify vector, in ``points`` steps (absolute IRQ counts, so the band is resolved).
    """
    w = when_it_matters(ncpus, **config)
    lo = max(0, w["limit_system_vector"] - ncpus)
    hi = w["limit_none"] + ncpus
    loads = sorted({int(x) for x in np.linspace(lo, hi, max(2, points)).round()} | {w["band_start"]})
    return _load_rows(ncpus, loads, config)


def offline_limit(mechanism: str, ncpus: int, **config: bool) -> int:
    """Most device IRQs with every CPU (but the boot CPU) unpluggable: ``kernel.budget.offline_limit``."""
    return budget.offline_limit(mechanism, ncpus, **config)


def headroom_frame(cpus: Sequence[int], **config: bool) -> pd.DataFrame:
    """Per mechanism × CPU count: device IRQs the guest holds before a CPU offline is refused."""
    rows = []
    for n in cpus:
        for mech in budget.MECHANISMS:
            lim = offline_limit(mech, n, **config)
            rows.append({"mechanism": mech, "ncpus": n, "limit": lim, "limit_per_cpu": lim / n})
    return pd.DataFrame(rows)


def when_it_matters(ncpus: int, **config: bool) -> dict[str, Any]:
    """Where the system vector decides an outcome on ``ncpus`` vCPUs.

    Below ``band_start`` device IRQs every mechanism can offline every CPU; from ``band_start`` to
    ``band_end`` only the reserved system vector makes a CPU offline fail; beyond, all refuse.
    """
    none = offline_limit("none", ncpus, **config)
    sysvec = offline_limit("system-vector", ncpus, **config)
    dyn = offline_limit("dynamic", ncpus, **config)
    per_cpu = budget.layout_for("none", **config).device_vectors_per_cpu(1)
    return {
        "ncpus": ncpus,
        "limit_none": none,
        "limit_system_vector": sysvec,
        "limit_dynamic": dyn,
        "band_start": sysvec + 1,
        "band_end": none,
        "band_irqs": max(0, none - sysvec),
        "band_start_per_cpu": (sysvec + 1) / ncpus,
        "band_end_per_cpu": none / ncpus,
        "cost_share_per_cpu": 1 / per_cpu,
    }


def budget_metrics(
    growth: pd.DataFrame, matters: Mapping[str, Any], answer: CaptureAnswer | None = None
) -> dict[str, Any]:
    """Key numbers of notebook 02: what the system vector takes on the largest machine, the band, and
    with a capture its answers (``capture_*``)."""
    big = growth[(growth["ncpus"] == growth["ncpus"].max()) & (growth["mechanism"] == "system-vector")]
    at = big.iloc[0]
    out = {
        "sweep_max_cpus": int(at["ncpus"]),
        "system_vector_taken_at_max": int(at["taken"]),
        "system_vector_taken_share": float(at["taken_share"]),
        "offline_limit_none": int(matters["limit_none"]),
        "offline_limit_system_vector": int(matters["limit_system_vector"]),
        "offline_limit_dynamic": int(matters["limit_dynamic"]),
        "band_start_per_cpu": float(matters["band_start_per_cpu"]),
        "band_end_per_cpu": float(matters["band_end_per_cpu"]),
    }
    if answer is not None:
        out.update(answer.metrics())
    return out


def layouts_frame(
    variants: Sequence[tuple[str, str, Mapping[str, bool]]] = LAYOUT_VARIANTS,
) -> pd.DataFrame:
    """One row per layout variant: FIRST_SYSTEM_VECTOR, system vectors, device vectors per CPU."""
    rows = []
    base_per_cpu: int | None = None
    for label, name, config in variants:
        lay = load_layout(name, **dict(config))
        s = lay.summary()
        per_cpu = int(s["device_per_cpu_ap"])
        if base_per_cpu is None:
            base_per_cpu = per_cpu
        notify = _NOTIFY_VECTOR in lay.system_vectors() and lay.vector(_NOTIFY_VECTOR) in lay.system_bits()
        rows.append(
            {
                "variant": label,
                "layout": name,
                "FIRST_SYSTEM_VECTOR": f"{int(s['FIRST_SYSTEM_VECTOR']):#x}",
                "system_vectors": int(s["system_vectors"]),
                "notify_vector_set": bool(notify),
                "device_vectors_per_cpu": per_cpu,
                "device_vectors_bsp": int(s["device_per_cpu_bsp"]),
                "vs_first": per_cpu - base_per_cpu,
            }
        )
    return pd.DataFrame(rows)


def vector_space_frame(
    variants: Sequence[tuple[str, str, Mapping[str, bool]]] = LAYOUT_VARIANTS[:2],
) -> pd.DataFrame:
    """``VectorLayout.describe()`` rows of each variant, with a ``variant`` column (for a faceted grid)."""
    frames = []
    for label, name, config in variants:
        df = pd.DataFrame(load_layout(name, **dict(config)).describe())
        df["variant"] = label
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True, eq=False)
class CaptureAnswer:
    """The three questions of issue 6 answered for one capture, plus the per-CPU table behind them."""

    capture: str
    answers: pd.DataFrame  # question, answer
    per_cpu: pd.DataFrame
    summary: dict[str, Any]
    notes: tuple[str, ...]

    def metrics(self) -> dict[str, Any]:
        """Key numbers for ``record_metrics`` (prefixed ``capture_``)."""
        s = self.summary
        keys = (
            "cpus_online",
            "available_min",
            "available_reserved_min",
            "taken_total",
            "cpus_cannot_offline",
            "cpus_cannot_offline_reserved",
            "all_can_offline",
            "all_can_offline_reserved",
        )
        return {f"capture_{k}": s[k] for k in keys if k in s}


def capture_answer(capture: str, layout: str = "") -> CaptureAnswer | None:
    """Device vectors left per CPU on a captured machine, what the reserved vector takes, hotplug.

    ``capture`` is a name under data/captures or a path ("" = none: returns None); ``layout`` re-seats
    the capture on another kernel's vector space ("" = the capture's own).
    """
    if not isinstance(capture, str):
        raise ValidationError("capture", capture, "a capture name under data/captures, a path, or ''")
    if not capture:
        return None
    cb = budget_from_capture(capture, layout or None)
    s = cb.summary
    k = int(s["reserved_vectors"])
    answers = pd.DataFrame(
        [
            {
                "question": "device vectors left per CPU (fewest / median)",
                "answer": f"{s['available_min']} / {s['available_median']:g} on {s['cpus_online']} CPUs",
            },
            {
                "question": f"what {k} reserved system vector(s) take",
                "answer": f"{s['taken_total']} vectors in all; fewest left per CPU "
                f"{s['available_min']} -> {s['available_reserved_min']}",
            },
            {
                "question": "could every CPU still go offline? (now -> with the reservation)",
                "answer": f"{_yes(s['all_can_offline'])} -> {_yes(s['all_can_offline_reserved'])} "
                f"({s['cpus_cannot_offline']} -> {s['cpus_cannot_offline_reserved']} CPUs refused)",
            },
            {"question": "how the load was read", "answer": f"{s['kind']}, layout {s['layout']}"},
        ]
    )
    return CaptureAnswer(cb.capture, answers, cb.per_cpu, dict(s), tuple(cb.notes))


def _yes(flag: object) -> str:
    return "yes" if bool(flag) else "no"


# --------------------------------------------------------------------------------------------------
# The notebook's view, panel and claims
# --------------------------------------------------------------------------------------------------

#: Device loads (IRQs per vCPU) of the budget view's left chart.
BUDGET_LOADS: tuple[int, ...] = tuple(range(0, 206, 5))


def budget_view(p: BudgetParams | None = None) -> View:
    """02: vectors left and offline refusals against device load on ``cpus`` vCPUs, per notify mechanism."""
    p = p or BudgetParams()
    cpus, per_cpu, config = p.cpus, p.device_irqs_per_cpu, p.config
    full = load_frame(cpus, BUDGET_LOADS, **config)
    band = band_frame(cpus, **config)
    points = load_frame(cpus, [per_cpu], **config)
    w = when_it_matters(cpus, **config)
    sv = points[points["mechanism"] == "system-vector"].iloc[0]
    caption = (
        f"{cpus} vCPUs at {per_cpu} device IRQs per vCPU: the system vector takes "
        f"{sv['notify_vectors_total']} vectors (one per vCPU); it alone refuses a CPU offline between "
        f"{w['band_start_per_cpu']:.2f} and {w['band_end_per_cpu']:.2f} IRQs per vCPU"
    )
    kconfig = "y" if p.intel_tdx_guest else "n"
    title = f"The vector budget on {cpus} vCPUs (CONFIG_INTEL_TDX_GUEST={kconfig})"
    chart = figures.load_curves(full, band, per_cpu, title)
    return View(p, {"points": points, "full": full, "band": band, "when": w}, chart, caption)


def budget_panel(p: BudgetParams | None = None) -> Panel:
    """02: vCPUs, device load and CONFIG_INTEL_TDX_GUEST; the budget curves are redrawn."""
    p = p or BudgetParams()
    names = ("cpus", "device_irqs_per_cpu", "intel_tdx_guest")
    return make_panel("The vector budget", p, budget_view, names)


def budget_claims(p: BudgetParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The notebook's claims, the wasteful-vector check re-run on 8, ``cpus`` and ``max_cpus`` vCPUs."""
    return claims_view(p.NOTEBOOK, cpus=sorted({8, p.cpus, p.max_cpus}))
