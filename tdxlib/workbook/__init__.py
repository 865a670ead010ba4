"""Per-notebook helpers: each notebook's model is one call here that returns a tidy frame.

The notebooks (``notebooks/01..05``) hold the argument; this module holds what they compute, so
their code cells stay a few lines long and the logic is tested (tests/test_workbook.py). Expensive
pieces — booted vector matrices, single simulation runs — are cached, so the widget panels of
:mod:`tdxlib.workbook.widgets` redraw quickly when a control moves back and forth.

Sections follow the notebooks: the question (01), the vector budget (02), who gets the interrupt
(03), hotplug (04) and polling (05); :func:`claims_for` gives each notebook its claims' verdicts.
"""

from __future__ import annotations

import functools
import gc
import importlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tdxlib.errors import TdxlibError, ValidationError
from tdxlib.kernel import budget as _budget

if TYPE_CHECKING:
    from tdxlib.sim import Metrics, Result, Scenario

__all__ = [
    "DELIVERY_QUOTES",
    "DELIVERY_STRATEGIES",
    "DELIVERY_VMMS",
    "GROWTH_COLUMNS",
    "HOTPLUG_PAIRS",
    "HOTPLUG_STRATEGIES",
    "LAYOUT_VARIANTS",
    "NOTEBOOK_CLAIMS",
    "CaptureAnswer",
    "HotplugRun",
    "band_frame",
    "budget_metrics",
    "budget_point",
    "capture_answer",
    "claims_for",
    "claims_view",
    "delivery_matrix",
    "delivery_metrics",
    "growth_frame",
    "headroom_frame",
    "hotplug_compare",
    "hotplug_run",
    "interrupt_reference",
    "irq_placement",
    "layouts_frame",
    "load_frame",
    "loss_windows",
    "mechanism_run",
    "offline_limit",
    "polling_cost",
    "polling_metrics",
    "polling_sweep",
    "setup_checks",
    "sleep_table",
    "start",
    "stuck_frame",
    "thread_frame",
    "vector_space_frame",
    "when_it_matters",
]

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


def start(interactive: bool) -> None:
    """First call of every notebook: static SVG charts when ``interactive`` is False (report runs),
    and tables that show the claims' evidence in full.

    A kernel of a report build runs this one notebook and exits, so what it has imported by now
    (pandas, altair's schema, tdxlib's data: some 100,000 objects) lives as long as the kernel:
    ``gc.freeze`` leaves it out of every later full collection, each of which would walk all of it
    again (75-100 ms a time, 0.1-0.3 s a run). Any other session is left as it is.
    """
    from tdxlib import cache as buildcache
    from tdxlib.workbook import charts

    charts.set_interactive(None if interactive else False)
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.precision", 4)
    if not interactive and buildcache.active():
        gc.freeze()


# --------------------------------------------------------------------------------------------------
# The claims
# --------------------------------------------------------------------------------------------------


#: Notebook parameters that reach only some checks (parameter -> the claim ids it is passed to).
PARAM_ROUTES: dict[str, dict[str, tuple[str, ...]]] = {
    "05_polling": {"vmm": ("polling-sufficient",)},
}


def _claims_module() -> Any:
    try:
        return importlib.import_module("tdxlib.argument.claims")
    except ImportError as exc:
        raise TdxlibError(
            "tdxlib.argument.claims is not available: the claims ledger cannot be shown"
        ) from exc


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
    frame: pd.DataFrame = _claims_module().ledger(ids=_notebook_ids(notebook))
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
    """(the notebook's ledger at the checks' defaults, a table to show it with).

    Each check that takes one of ``params`` with a value other than its default is run again with
    it; the table then adds ``verdict here`` and ``evidence here`` columns (the notebook's
    parameters; unchanged checks say so). The first frame is what the notebook records.
    """
    claims = _claims_module()
    ledger = claims_for(notebook)
    table = ledger[["id", "author", "verdict", "evidence"]].copy()
    here_v, here_e, changed = [], [], False
    for cid, verdict in zip(ledger["id"], ledger["verdict"], strict=True):
        mine = _routed(notebook, cid, params, claims.check.parameters(cid))
        if mine:
            v = claims.check(cid, **mine)
            here_v.append(v.verdict)
            here_e.append(v.evidence)
            changed = True
        else:
            here_v.append(verdict)
            here_e.append("(as above: these parameters do not change this check)")
    if changed:
        table["verdict here"] = here_v
        table["evidence here"] = here_e
    return ledger, table


def thread_frame() -> pd.DataFrame:
    """Who said what: the claims of data/claims/claims.yaml (id, author, date, our paraphrase, source)."""
    from tdxlib.data import data_path, load_yaml

    doc = load_yaml(data_path("claims", "claims.yaml"))
    rows = [
        {k: str(c.get(k, "")) for k in ("id", "author", "date", "claim", "message", "source")}
        for c in doc["claims"]
    ]
    return pd.DataFrame(rows).sort_values("date", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# 01 — the mechanism
# --------------------------------------------------------------------------------------------------

#: Event kinds of one GetQuote round trip, in the order a reader follows them.
MECHANISM_KINDS = (
    "request_irq",
    "setup_notify",
    "quote_issue",
    "get_quote",
    "service_done",
    "inject",
    "not_injected",
    "irq_handled",
    "spurious",
    "quote_done",
)


def mechanism_run(
    strategy: str = "system-vector",
    vmm: str = "qemu-10.1",
    *,
    cpus: int = 4,
    quotes: int = 3,
    seed: int = 0,
    service_ms: float | None = None,
) -> pd.DataFrame:
    """Events of a few GetQuote round trips (closed loop) as a tidy frame, for the walk-through timeline."""
    result = _run_cached(
        _scenario_key(cpus=cpus, strategy=strategy, vmm=vmm, quotes=quotes, seed=seed, service_ms=service_ms)
    )
    ev = result.events
    out = ev[ev["kind"].isin(MECHANISM_KINDS)].copy()
    out["kind"] = out["kind"].astype(str)
    out["strategy"] = strategy
    out["vmm"] = vmm
    return out.reset_index(drop=True)


def setup_checks(vectors: Iterable[int] = (0x10, 0x20, 0xEC, 0xFF, 0x100)) -> pd.DataFrame:
    """What SetupEventNotifyInterrupt answers for each vector: the GHCI range check (32..255)."""
    from tdxlib.tdx import ghci

    rows = []
    for v in vectors:
        res = ghci.explain_setup_event_notify(ghci.SetupEventNotifyInterrupt(int(v)))
        rows.append(
            {
                "vector": f"{int(v):#x}",
                "status": ghci.status_name(res.status),
                "why": res.reason or "accepted",
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# 02 — the vector budget
# --------------------------------------------------------------------------------------------------

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
    return _budget.budget(mechanism, ncpus, device_irqs, **config).to_dict()


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
        for mech in _budget.MECHANISMS:
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
        for mech in _budget.MECHANISMS:
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
    return _budget.offline_limit(mechanism, ncpus, **config)


def headroom_frame(cpus: Sequence[int], **config: bool) -> pd.DataFrame:
    """Per mechanism × CPU count: device IRQs the guest holds before a CPU offline is refused."""
    rows = []
    for n in cpus:
        for mech in _budget.MECHANISMS:
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
    per_cpu = _budget.layout_for("none", **config).device_vectors_per_cpu(1)
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


def budget_metrics(growth: pd.DataFrame, matters: Mapping[str, Any]) -> dict[str, Any]:
    """Key numbers of notebook 02: what the system vector takes on the largest machine, and the band."""
    big = growth[(growth["ncpus"] == growth["ncpus"].max()) & (growth["mechanism"] == "system-vector")]
    at = big.iloc[0]
    return {
        "sweep_max_cpus": int(at["ncpus"]),
        "system_vector_taken_at_max": int(at["taken"]),
        "system_vector_taken_share": float(at["taken_share"]),
        "offline_limit_none": int(matters["limit_none"]),
        "offline_limit_system_vector": int(matters["limit_system_vector"]),
        "offline_limit_dynamic": int(matters["limit_dynamic"]),
        "band_start_per_cpu": float(matters["band_start_per_cpu"]),
        "band_end_per_cpu": float(matters["band_end_per_cpu"]),
    }


def layouts_frame(
    variants: Sequence[tuple[str, str, Mapping[str, bool]]] = LAYOUT_VARIANTS,
) -> pd.DataFrame:
    """One row per layout variant: FIRST_SYSTEM_VECTOR, system vectors, device vectors per CPU."""
    from tdxlib.kernel.vectors import load_layout

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
    from tdxlib.kernel.vectors import load_layout

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
    try:
        from tdxlib.ingest.capture_budget import budget_from_capture
    except ImportError as exc:
        raise TdxlibError(
            f"capture = {capture!r} needs tdxlib.ingest.budget_from_capture, which this tdxlib lacks; "
            "run with capture='' for the model alone"
        ) from exc
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


def capture_names() -> list[str]:
    """Shipped captures (data/captures), or [] when the ingest package is missing."""
    try:
        from tdxlib.ingest.captures import capture_names as names
    except ImportError:  # pragma: no cover
        return []
    return names()


# --------------------------------------------------------------------------------------------------
# Simulation runs (cached): one key per scenario
# --------------------------------------------------------------------------------------------------

_ScenarioKey = tuple[tuple[str, Any], ...]


class _FrozenDict(tuple[Any, ...]):
    """A mapping frozen into sorted (key, value) pairs, so scenario keys can be cached."""

    __slots__ = ()


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _FrozenDict(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, _FrozenDict):
        return {k: _thaw(v) for k, v in value}
    return value


def _scenario_key(**fields: Any) -> _ScenarioKey:
    return tuple(sorted((k, _freeze(v)) for k, v in fields.items() if v is not None))


def _scenario(key: _ScenarioKey) -> Scenario:
    from tdxlib.sim import Scenario

    return Scenario(**{k: _thaw(v) for k, v in key})


@functools.lru_cache(maxsize=512)
def _run_cached(key: _ScenarioKey) -> Result:
    """A run with its event and quote frames (timelines need them)."""
    from tdxlib.sim import run

    return run(_scenario(key))


@functools.lru_cache(maxsize=4096)
def _metrics_cached(key: _ScenarioKey) -> Metrics:
    """The metrics of a run, from the simulator's metrics-only fast path (identical numbers, no frames)."""
    from tdxlib.sim import run

    return run(_scenario(key), frames=False).metrics


def _strategy_spec(name: str, **params: Any) -> dict[str, Any]:
    from tdxlib.tdx.strategies import STRATEGY_NAMES

    if name not in STRATEGY_NAMES:
        raise ValidationError("strategy", name, ", ".join(STRATEGY_NAMES))
    return {"name": name, **params}


# --------------------------------------------------------------------------------------------------
# 03 — who gets the interrupt
# --------------------------------------------------------------------------------------------------

#: Strategies in the delivery matrix (all of tdxlib.tdx.strategies), in the thread's order.
DELIVERY_STRATEGIES: tuple[str, ...] = (
    "system-vector",
    "dynamic",
    "dynamic-apic",
    "caller-vcpu",
    "quote-carries-vector",
    "polling",
)
#: VMM profiles that differ in *where* they inject (the service-side profiles belong to 05).
DELIVERY_VMMS: tuple[str, ...] = (
    "ghci-1.0",
    "random-vcpu",
    "bsp-only",
    "ghci-1.5-caller",
    "qemu-10.1",
    "intel-qemu-2022",
    "apic-id-arg",
    "getquote-carries-vector",
    "never-injects",
)


#: Quotes per strategy × VMM cell at the notebook's default size. 10 (it was 20) keeps a redraw of the
#: 54-cell matrix under the 100 ms widget goal (issue 4): each cell is a full simulation, ~0.2 ms
#: set-up plus ~50 µs per quote; shares then move in steps of 10 %, enough to tell the cells apart.
DELIVERY_QUOTES = 10


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
    from tdxlib.tdx.vmm import profile_names

    known = set(profile_names())
    rows = []
    for vmm in vmms:
        if vmm not in known:
            raise ValidationError("vmm", vmm, f"one of {', '.join(sorted(known))}")
    for strat in strategies:
        spec = _strategy_spec(strat)
        for vmm in vmms:
            key = _scenario_key(
                cpus=cpus,
                strategy=spec,
                vmm=vmm,
                quotes=quotes,
                seed=seed,
                workload=workload,
                rate_per_s=rate_per_s,
                service_ms=service_ms,
            )
            rows.append(_cell_row(strat, vmm, _metrics_cached(key)))
    return pd.DataFrame(rows)


def delivery_metrics(matrix: pd.DataFrame) -> dict[str, Any]:
    """Key numbers of a delivery matrix: cells that lose nothing; per strategy, the profiles it survives."""
    injected = matrix[matrix["injected"] > 0]
    out: dict[str, Any] = {
        "cells": len(matrix),
        "cells_all_completed": int((matrix["completed_share"] == 1.0).sum()),
        "cells_losing_notifications": int((injected["lost"] > 0).sum()),
    }
    for strat, grp in matrix.groupby("strategy", sort=False):
        out[f"{strat}_profiles_all_completed"] = int((grp["completed_share"] == 1.0).sum())
    return out


def irq_placement(cpus: int = 8, device_irqs: Sequence[int] = (0, 20), seed: int = 0) -> pd.DataFrame:
    """Where the dynamically allocated notify IRQ lands: early initcall (before SMP) against late.

    The allocator picks the online CPU with the most free vectors; before SMP bring-up only CPU 0
    is online (Thomas Gleixner, 23 Aug 2023).
    """
    rows = []
    for early in (True, False):
        for dev in device_irqs:
            spec = _strategy_spec("caller-vcpu", early=early)
            key = _scenario_key(
                cpus=cpus, strategy=spec, vmm="qemu-10.1", quotes=0, device_irqs=dev, seed=seed
            )
            cpu = _metrics_cached(key).notify_setup_cpu
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
# 04 — hotplug
# --------------------------------------------------------------------------------------------------

#: Strategies that place the notify vector somewhere (polling has nothing to migrate).
HOTPLUG_STRATEGIES: tuple[str, ...] = ("system-vector", "dynamic", "dynamic-apic", "caller-vcpu")

#: Each placed strategy with the VMM profile it was designed for.
HOTPLUG_PAIRS: tuple[tuple[str, str], ...] = (
    ("system-vector", "ghci-1.0"),
    ("dynamic-apic", "apic-id-arg"),
    ("caller-vcpu", "qemu-10.1"),
)

#: Event kinds of the hotplug timeline.
HOTPLUG_KINDS = (
    "setup_notify",
    "quote_issue",
    "inject",
    "irq_handled",
    "spurious",
    "misdirected",
    "dropped_offline",
    "pending",
    "cpu_offline",
    "cpu_online",
    "notify_migrate",
    "reregister",
    "quote_done",
)


@dataclass(frozen=True, eq=False)
class HotplugRun:
    """One hotplug run: the result, the timeline events, the loss windows and the key numbers."""

    scenario: Scenario
    result: Result
    events: pd.DataFrame
    windows: pd.DataFrame
    metrics: dict[str, Any]


def _strategy_params(strategy: str, reregister: bool, reregister_delay_ms: float) -> dict[str, Any]:
    if strategy in ("dynamic", "dynamic-apic", "caller-vcpu"):
        return {"reregister": bool(reregister), "reregister_delay_ms": float(reregister_delay_ms)}
    return {}


def _notify_cpu(cpus: int, spec: dict[str, Any], vmm: str, seed: int) -> int:
    """The CPU the notify IRQ lands on at boot (1 when the mechanism has none, e.g. a system vector)."""
    key = _scenario_key(cpus=cpus, strategy=spec, vmm=vmm, quotes=0, seed=seed)
    cpu = _metrics_cached(key).notify_setup_cpu
    return 1 if cpu is None or cpu == 0 else int(cpu)


def loss_windows(events: pd.DataFrame) -> pd.DataFrame:
    """Intervals where the VMM targets a stale place: the notify IRQ is away from the (APIC ID, vector)
    it had at its last successful SetupEventNotifyInterrupt.

    A window opens at a ``notify_migrate`` away from that place and closes at a successful
    re-registration, or at a ``notify_migrate`` that brings the IRQ back to it (periodic hotplug of
    the notify CPU without re-registration bounces it between two CPUs). The lengths sum to
    ``Metrics.loss_window_s``. Needs the event columns kind, time_s, apic_id, vector and detail.
    """
    rows = []
    end = float(events["time_s"].max()) if len(events) else 0.0
    kinds = events["kind"].astype(str).tolist()
    times = events["time_s"].to_numpy(dtype=float).tolist()
    apics = events["apic_id"].tolist()
    vectors = events["vector"].tolist()
    details = events["detail"].astype(str).tolist()
    place: tuple[int, int] | None = None  # where the notify IRQ is now
    registered: tuple[int, int] | None = None  # where it was at the last successful registration
    open_at: float | None = None
    for i, kind in enumerate(kinds):
        if kind == "request_irq":
            place = (int(apics[i]), int(vectors[i]))
        elif kind in ("setup_notify", "reregister"):
            if place is None or not details[i].startswith(_SETUP_OK):
                continue
            registered = place
            if open_at is not None:
                rows.append({"start_s": open_at, "end_s": times[i], "closed": True})
                open_at = None
        elif kind == "notify_migrate":
            place = (int(apics[i]), int(vectors[i]))
            if registered is None:
                continue
            if place == registered and open_at is not None:
                rows.append({"start_s": open_at, "end_s": times[i], "closed": True})
                open_at = None
            elif place != registered and open_at is None:
                open_at = times[i]
    if open_at is not None:
        rows.append({"start_s": open_at, "end_s": end, "closed": False})
    df = pd.DataFrame(rows, columns=["start_s", "end_s", "closed"])
    df["length_ms"] = (df["end_s"] - df["start_s"]) * 1000.0
    return df


#: How a successful SetupEventNotifyInterrupt event's detail begins (``ghci.status_name(SUCCESS)``).
_SETUP_OK = "TDVMCALL_STATUS_SUCCESS"


def hotplug_run(
    strategy: str = "caller-vcpu",
    vmm: str = "qemu-10.1",
    *,
    cpus: int = 4,
    reregister: bool = True,
    reregister_delay_ms: float = 1.0,
    offline_at_s: float = 3.0,
    online_at_s: float | None = 6.0,
    duration_s: float = 10.0,
    rate_per_s: float = 4.0,
    service_ms: float | None = 50.0,
    seed: int = 0,
) -> HotplugRun:
    """Take the notify IRQ's CPU offline at ``offline_at_s`` (and back at ``online_at_s``; 0 or None:
    never) under load; ``service_ms`` 0 or None uses the VMM profile's service-time distribution.

    Open workload of ``rate_per_s`` quotes per second for ``duration_s``; the strategy re-registers
    (SetupEventNotifyInterrupt again) ``reregister_delay_ms`` after its IRQ migrated, if ``reregister``.
    """
    spec = _strategy_spec(strategy, **_strategy_params(strategy, reregister, reregister_delay_ms))
    online_at_s = online_at_s if online_at_s else None  # 0 = the CPU stays offline
    service_ms = service_ms if service_ms else None  # 0 = the profile's service-time distribution
    if cpus < 2:
        raise ValidationError("cpus", cpus, ">= 2 (the boot CPU stays online)")
    if not 0 <= offline_at_s < duration_s:
        raise ValidationError("offline_at_s", offline_at_s, f"a time in [0, duration_s = {duration_s})")
    if online_at_s is not None and not offline_at_s < online_at_s:
        raise ValidationError(
            "online_at_s", online_at_s, f"None or a time after offline_at_s = {offline_at_s}"
        )
    cpu = _notify_cpu(cpus, spec, vmm, seed)
    plan = [(float(offline_at_s), cpu, "offline")]
    if online_at_s is not None:
        plan.append((float(online_at_s), cpu, "online"))
    key = _scenario_key(
        cpus=cpus,
        strategy=spec,
        vmm=vmm,
        workload="open",
        rate_per_s=rate_per_s,
        duration_s=duration_s,
        service_ms=service_ms,
        hotplug=tuple(plan),
        seed=seed,
    )
    result = _run_cached(key)
    ev = result.events
    events = ev[ev["kind"].isin(HOTPLUG_KINDS)].copy()
    events["kind"] = events["kind"].astype(str)
    m = result.metrics
    metrics = {
        "quotes": m.quotes_issued,
        "completed": m.completed,
        "hung": m.hung,
        "lost_notifications": m.lost_notifications,
        "notify_migrations": m.notify_migrations,
        "reregistrations": m.reregistrations,
        "exposed_requests": m.exposed_requests,
        "loss_window_ms": m.loss_window_s * 1000.0,
        "offlined_cpu": cpu,
    }
    return HotplugRun(result.scenario, result, events.reset_index(drop=True), loss_windows(ev), metrics)


def hotplug_compare(
    pairs: Sequence[tuple[str, str]] = HOTPLUG_PAIRS,
    delays_ms: Sequence[float | None] = (None, 1.0, 100.0, 1000.0),
    **kwargs: Any,
) -> pd.DataFrame:
    """Each strategy with the VMM it was designed for × re-registration delay (None = never)."""
    rows = []
    for strat, vmm in pairs:
        for delay in delays_ms if strat != "system-vector" else (None,):
            run = hotplug_run(
                strat,
                vmm,
                reregister=delay is not None,
                reregister_delay_ms=1.0 if delay is None else float(delay),
                **kwargs,
            )
            label = "n/a" if strat == "system-vector" else ("never" if delay is None else f"{delay:g} ms")
            m = run.metrics
            rows.append(
                {
                    "strategy": strat,
                    "vmm": vmm,
                    "reregister": label,
                    **{k: m[k] for k in ("quotes", "completed", "hung", "lost_notifications")},
                    **{k: m[k] for k in ("exposed_requests", "loss_window_ms")},
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# 05 — polling
# --------------------------------------------------------------------------------------------------


def sleep_table(
    intervals_ms: Sequence[int] = (1, 5, 1000), hz_values: Sequence[int] = (100, 250, 1000)
) -> pd.DataFrame:
    """How long ``msleep_interruptible(ms)`` really sleeps at each HZ (before and since Linux 6.13)."""
    from tdxlib.kernel.jiffies import max_sleep_ms, min_sleep_ms

    rows = []
    for ms in intervals_ms:
        for hz in hz_values:
            rows.append(
                {
                    "poll_ms": int(ms),
                    "hz": int(hz),
                    "sleep_min_ms": min_sleep_ms(int(ms), int(hz)),
                    "sleep_max_ms": max_sleep_ms(int(ms), int(hz)),
                    "sleep_min_ms_6_13": min_sleep_ms(int(ms), int(hz), extra_jiffy=False),
                    "sleep_max_ms_6_13": max_sleep_ms(int(ms), int(hz), extra_jiffy=False),
                }
            )
    return pd.DataFrame(rows)


def _latency_row(m: Metrics) -> dict[str, Any]:
    done = max(m.completed, 1)
    lat = m.latency_ms
    return {
        "quotes": m.quotes_issued,
        "completed": m.completed,
        "timed_out": m.timed_out,
        "failed": m.failed,
        "latency_p50_ms": lat.get("p50", math.nan),
        "latency_p99_ms": lat.get("p99", math.nan),
        "latency_mean_ms": m.latency_mean_ms,
        "wakeups": m.wakeups,
        "wakeups_per_quote": m.wakeups / done,
        "wasted_wakeups_per_quote": max(0, m.wakeups - m.completed) / done,
    }


def polling_sweep(
    intervals_ms: Sequence[int] = (1, 5, 10, 50, 100, 250, 1000),
    hz_values: Sequence[int] = (100, 250, 1000),
    *,
    vmm: str = "qemu-10.1",
    quotes: int = 50,
    seed: int = 0,
    service_ms: float | None = None,
    extra_jiffy: bool = True,
    timeout_s: float = 30.0,
    cpus: int = 2,
) -> pd.DataFrame:
    """Poll interval × HZ: quote latency and wake-ups (closed loop, the merged driver's one-at-a-time)."""
    rows = []
    for hz in hz_values:
        for iv in intervals_ms:
            spec = _strategy_spec("polling", interval_ms=int(iv), timeout_s=float(timeout_s))
            key = _scenario_key(
                cpus=cpus,
                strategy=spec,
                vmm=vmm,
                hz=int(hz),
                extra_jiffy=bool(extra_jiffy),
                quotes=quotes,
                seed=seed,
                service_ms=service_ms,
            )
            row = _latency_row(_metrics_cached(key))
            rows.append({"poll_ms": int(iv), "hz": int(hz), "series": f"poll, HZ={hz}", **row})
    return pd.DataFrame(rows)


def interrupt_reference(
    strategies: Sequence[str] = ("system-vector", "caller-vcpu"),
    *,
    vmm: str = "qemu-10.1",
    quotes: int = 50,
    seed: int = 0,
    service_ms: float | None = None,
    cpus: int = 2,
) -> pd.DataFrame:
    """The same requests notified by interrupt: the latency and wake-ups polling is measured against."""
    rows = []
    for strat in strategies:
        key = _scenario_key(
            cpus=cpus,
            strategy=_strategy_spec(strat),
            vmm=vmm,
            quotes=quotes,
            seed=seed,
            service_ms=service_ms,
        )
        rows.append(
            {"series": f"interrupt ({strat})", "strategy": strat, **_latency_row(_metrics_cached(key))}
        )
    return pd.DataFrame(rows)


def polling_metrics(
    sweep: pd.DataFrame, reference: pd.DataFrame, intervals_ms: Iterable[int] = (1, 5, 1000)
) -> dict[str, Any]:
    """Key numbers of notebook 05: mean latency and wasted wake-ups per interval × HZ, and interrupts."""
    out: dict[str, Any] = {}
    key = sweep.set_index(["poll_ms", "hz"])
    for ms in intervals_ms:
        for hz in sorted(set(sweep["hz"])):
            if (ms, hz) not in key.index:
                continue
            row = key.loc[(ms, hz)]
            for col in ("latency_mean_ms", "wasted_wakeups_per_quote"):
                value = float(row[col])
                if math.isfinite(value):
                    out[f"poll_{ms}ms_hz{hz}_{col}"] = value
    reached = reference[reference["completed"] > 0]
    if len(reached):
        out["interrupt_latency_mean_ms"] = float(reached["latency_mean_ms"].min())
    return out


#: Guests compared when the VMM never signals: (label, strategy spec).
STUCK_GUESTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("interrupt only (v8)", {"name": "system-vector"}),
    ("interrupt + 30 s timeout", {"name": "system-vector", "timeout_s": 30.0}),
    ("interrupt + polling fallback", {"name": "system-vector", "fallback": {"name": "polling"}}),
    ("polling 1 s × 30 (6.7)", {"name": "polling"}),
)


def stuck_frame(
    vmms: Sequence[str] = ("never-injects", "qgs-never-answers"), quotes: int = 3, seed: int = 0
) -> pd.DataFrame:
    """Guest designs × a VMM that never injects / a quote service that never answers: who returns?"""
    rows = []
    for vmm in vmms:
        for label, spec in STUCK_GUESTS:
            key = _scenario_key(cpus=2, strategy=spec, vmm=vmm, quotes=quotes, seed=seed)
            m = _metrics_cached(key)
            rows.append(
                {
                    "vmm": vmm,
                    "guest": label,
                    "quotes": m.quotes_issued,
                    "completed": m.completed,
                    "timed_out": m.timed_out,
                    "busy": m.busy,
                    "failed": m.failed,
                    "hung": m.hung,
                    "sim_time_s": round(m.duration_s, 3),
                }
            )
    return pd.DataFrame(rows)


def polling_cost(sweep: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Per poll interval × HZ: extra latency and wasted wake-ups against the best interrupt strategy
    (named in ``attrs["reference"]``)."""
    done = reference[reference["completed"] > 0]
    if done.empty:
        raise ValidationError("reference", "no completed quotes", "an injecting VMM profile")
    best = done.sort_values("latency_mean_ms").iloc[0]
    out = sweep[["poll_ms", "hz", "latency_p50_ms", "latency_mean_ms"]].copy()
    out["extra_p50_ms"] = out["latency_p50_ms"] - float(best["latency_p50_ms"])
    out["extra_mean_ms"] = out["latency_mean_ms"] - float(best["latency_mean_ms"])
    out["wakeups_per_quote"] = sweep["wakeups_per_quote"]
    out["wasted_wakeups_per_quote"] = sweep["wasted_wakeups_per_quote"]
    out.attrs["reference"] = str(best["series"])
    return out.reset_index(drop=True)
