"""Notebook 01, the question: a few GetQuote round trips as a timeline, the SetupEventNotifyInterrupt
range check, the thread's claims by date, and the whole ledger by era (a verdict per kernel profile)
with its key numbers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from tdxlib.cache import memo
from tdxlib.data import data_path, load_yaml
from tdxlib.kernel.profile import DEFAULT_KERNEL
from tdxlib.tdx import ghci
from tdxlib.workbook import figures
from tdxlib.workbook.panel import Panel, View, make_panel
from tdxlib.workbook.params import QuestionParams
from tdxlib.workbook.simruns import ScenarioKey, run_of, scenario_key, strategy_spec

__all__ = [
    "MECHANISM_KINDS",
    "WALKTHROUGH_CPUS",
    "QuestionParams",
    "era_frame",
    "era_table",
    "mechanism_run",
    "question_metrics",
    "question_panel",
    "question_view",
    "setup_checks",
    "thread_frame",
]

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

#: vCPUs of the walk-through's guest.
WALKTHROUGH_CPUS = 4


def mechanism_run(
    strategy: str = "system-vector",
    vmm: str = "qemu-10.1",
    *,
    kernel: str = DEFAULT_KERNEL,
    cpus: int = WALKTHROUGH_CPUS,
    quotes: int = 3,
    seed: int = 0,
    service_ms: float | None = None,
) -> pd.DataFrame:
    """Events of a few GetQuote round trips (closed loop) as a tidy frame, for the walk-through timeline."""
    key = scenario_key(
        kernel=kernel,
        cpus=cpus,
        strategy=strategy_spec(strategy),
        vmm=vmm,
        quotes=quotes,
        seed=seed,
        service_ms=service_ms,
    )
    out = _round_trips(key)
    out["strategy"] = strategy
    out["vmm"] = vmm
    return out


@memo(maxsize=512, copy=pd.DataFrame.copy)
def _round_trips(key: ScenarioKey) -> pd.DataFrame:
    """The walk-through's events of one run (a copy per caller)."""
    ev = run_of(key).events
    out = ev[ev["kind"].isin(MECHANISM_KINDS)].copy()
    out["kind"] = out["kind"].astype(str)
    return out.reset_index(drop=True)


def setup_checks(vectors: Iterable[int] = (0x10, 0x20, 0xEC, 0xFF, 0x100)) -> pd.DataFrame:
    """What SetupEventNotifyInterrupt answers for each vector: the GHCI range check (32..255)."""
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


def thread_frame() -> pd.DataFrame:
    """Who said what: the claims of data/claims/claims.yaml (id, author, date, our paraphrase, source)."""
    doc = load_yaml(data_path("claims", "claims.yaml"))
    rows = [
        {k: str(c.get(k, "")) for k in ("id", "author", "date", "claim", "message", "source")}
        for c in doc["claims"]
    ]
    return pd.DataFrame(rows).sort_values("date", kind="stable").reset_index(drop=True)


def question_metrics(ledger: pd.DataFrame, events: pd.DataFrame) -> dict[str, Any]:
    """Key numbers of notebook 01: the ledger's overall verdict counts, how many claims are moot on some
    kernel of the story, and the quotes the walk-through returned."""
    counts = ledger["verdict"].value_counts()
    return {
        "claims": len(ledger),
        "claims_holding": int(counts.get("holds", 0)),
        "claims_failing": int(counts.get("fails", 0)),
        "claims_depending": int(counts.get("depends", 0)),
        "claims_moot_on_some_kernel": int(sum("moot" in eras.values() for eras in ledger["eras"])),
        "walkthrough_quotes_returned": int((events["kind"] == "quote_done").sum()),
    }


def era_table(ledger: pd.DataFrame) -> pd.DataFrame:
    """The claims by era: a column per kernel profile of the ledger, the overall verdict and what it
    depends on (the ledger's ``eras`` and ``depends_on``)."""
    rows = [
        {"id": r["id"], **r["eras"], "overall": r["verdict"], "depends on": r["depends_on"]}
        for _, r in ledger.iterrows()
    ]
    return pd.DataFrame(rows)


def era_frame(ledger: pd.DataFrame) -> pd.DataFrame:
    """The ledger's era verdicts in long form (id, kernel, verdict), overall last, for the era grid."""
    rows = []
    for _, r in ledger.iterrows():
        rows += [{"id": r["id"], "kernel": k, "verdict": v} for k, v in r["eras"].items()]
        rows.append({"id": r["id"], "kernel": "overall", "verdict": r["verdict"]})
    return pd.DataFrame(rows, columns=["id", "kernel", "verdict"])


def question_view(p: QuestionParams | None = None) -> View:
    """01: a few GetQuote round trips of one strategy on one VMM profile, as a timeline."""
    p = p or QuestionParams()
    events = mechanism_run(p.strategy, p.vmm, kernel=p.kernel, quotes=p.quotes, seed=p.seed)
    done = int((events["kind"] == "quote_done").sum())
    lost = int(events["kind"].isin(["spurious"]).sum())
    injected = int((events["kind"] == "inject").sum())
    caption = (
        f"{p.strategy} on {p.vmm}: {done} of {p.quotes} quotes returned; {injected} interrupts injected, "
        f"{lost} found no handler"
    )
    title = f"GetQuote round trips: {p.strategy} guest on {p.kernel}, {p.vmm} VMM"
    return View(p, events, figures.mechanism_timeline(events, title), caption)


def question_panel(p: QuestionParams | None = None) -> Panel:
    """01: pick a strategy and a VMM profile; the GetQuote round trips are redrawn."""
    p = p or QuestionParams()
    return make_panel(
        "One GetQuote, step by step", p, question_view, ("kernel", "strategy", "vmm", "quotes", "seed")
    )
