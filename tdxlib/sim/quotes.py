"""The quote requests of a run: each one's state from issue to return, which are still out and which can
never return, and what they add up to (``Result.quotes``, the outcome counts and the latencies).

The workload issues requests and the delivery of completions ends them; both go through one
:class:`Quotes` book, which tells the run (``check_done``) whenever it may be over.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import simpy

from tdxlib import smallstats
from tdxlib.sim.result import OUTCOMES
from tdxlib.tdx import ghci
from tdxlib.tdx.strategies.base import Recorder

__all__ = ["QuoteRequest", "Quotes"]

_NEVER = math.inf


class QuoteRequest:
    """Run-time state of one quote request."""

    __slots__ = (
        "apic",
        "call",
        "complete_at",
        "cpu",
        "done",
        "issued",
        "outcome",
        "qid",
        "requester",
        "ret",
        "returned",
        "service_ms",
        "status",
        "stuck",
        "success",
        "vector",
        "via",
        "waiting",
        "wake",
        "wakeups",
    )

    def __init__(self, qid: int, requester: int, issued: float) -> None:
        self.qid = qid
        self.requester = requester
        self.issued = issued
        self.cpu = -1
        self.apic = -1
        self.call: ghci.GetQuote | None = None
        self.complete_at = _NEVER
        self.service_ms = math.nan
        self.success = True
        self.status = ""
        self.done = False  # the VMM has written the final status
        self.waiting = False  # in the driver's wait (list of in-flight entries)
        self.stuck = False
        self.wake: simpy.Event | None = None
        self.returned = math.nan
        self.outcome = ""
        self.via = ""
        self.ret = ""
        self.wakeups = 0
        self.vector = -1


class Quotes:
    """The book of one run's requests: issued, still out (``active``), stuck for good, returned.

    ``check_done`` is the run's stop rule, called whenever a request returns or gets stuck.
    """

    __slots__ = ("_check_done", "_env", "_frames", "_record", "active", "n_stuck", "requests")

    def __init__(
        self, env: simpy.Environment, record: Recorder, check_done: Callable[[], None], *, frames: bool
    ) -> None:
        self._env = env
        self._record = record
        self._check_done = check_done
        self._frames = frames
        self.requests: list[QuoteRequest] = []
        self.active: set[QuoteRequest] = set()
        self.n_stuck = 0

    def issue(self, requester: int, cpu: int, apic: int) -> QuoteRequest:
        """A new request of ``requester``, made on vCPU ``cpu`` (APIC ID ``apic``)."""
        req = QuoteRequest(len(self.requests), requester, self._env.now)
        self.requests.append(req)
        self.active.add(req)
        req.cpu = cpu
        req.apic = apic
        self._record("quote_issue", quote_id=req.qid, cpu=cpu, apic_id=apic)
        return req

    def finish(self, req: QuoteRequest, outcome: str, via: str = "", ret: str = "0") -> None:
        """``req`` returns to its caller now: ``outcome`` (of OUTCOMES), how (``via``), the return code."""
        req.outcome, req.via, req.ret = outcome, via, ret
        req.returned = self._env.now
        self.active.discard(req)
        if req.stuck:
            self.set_stuck(req, False)
        self._record(
            "quote_done",
            quote_id=req.qid,
            cpu=req.cpu,
            apic_id=req.apic,
            detail=f"{outcome} {via} {ret}".strip() if self._frames else "",
        )
        self._check_done()

    def set_stuck(self, req: QuoteRequest, stuck: bool) -> None:
        """Mark ``req`` as one that can (no longer) return: nothing will ever wake it."""
        if req.stuck != stuck:
            req.stuck = stuck
            self.n_stuck += 1 if stuck else -1
        if stuck:
            self._check_done()

    def close(self, *, holder_stuck: bool) -> None:
        """At the end: every request still out is hung (stuck, or queued behind the driver's lock held
        by a stuck request: ``holder_stuck``) or unfinished (cut off by the end of the run)."""
        for req in self.active:
            queued_forever = holder_stuck and req.call is None  # behind quote_lock held by a hung request
            req.outcome = "hung" if req.stuck or queued_forever else "unfinished"
            req.via = ""

    def metrics(self) -> dict[str, Any]:
        """The Metrics fields of the requests: issued, outcome counts, latencies, service time."""
        reqs = self.requests
        counts = Counter(r.outcome for r in reqs)
        out: dict[str, Any] = {"quotes_issued": len(reqs)}
        out.update((o, counts[o]) for o in OUTCOMES)
        # a few dozen values: smallstats gives numpy's figures without numpy's per-call cost
        lat = [(r.returned - r.issued) * 1000.0 for r in reqs if r.outcome == "completed"]
        if lat:
            p50, p99 = smallstats.percentiles(lat, (50, 99))
            out["latency_ms"] = {"min": min(lat), "p50": p50, "p99": p99, "max": max(lat)}
            out["latency_mean_ms"] = smallstats.mean(lat)
        else:
            out["latency_ms"] = {"min": math.nan, "p50": math.nan, "p99": math.nan, "max": math.nan}
            out["latency_mean_ms"] = math.nan
        served = [r.service_ms for r in reqs if math.isfinite(r.service_ms)]
        out["service_p50_ms"] = smallstats.median(served) if served else math.nan
        return out

    def frame(self) -> pd.DataFrame:
        """``Result.quotes``: one row per request."""
        reqs = self.requests
        return pd.DataFrame(
            {
                "quote_id": np.array([r.qid for r in reqs], dtype=np.int64),
                "requester": np.array([r.requester for r in reqs], dtype=np.int64),
                "cpu": np.array([r.cpu for r in reqs], dtype=np.int64),
                "issued_s": np.array([r.issued for r in reqs], dtype=float),
                "returned_s": np.array([r.returned for r in reqs], dtype=float),
                "latency_ms": np.array([(r.returned - r.issued) * 1000.0 for r in reqs], dtype=float),
                "service_ms": np.array([r.service_ms for r in reqs], dtype=float),
                "outcome": pd.Categorical([r.outcome for r in reqs], categories=list(OUTCOMES)),
                "via": pd.array([r.via for r in reqs], dtype="string"),
                "ret": pd.array([r.ret for r in reqs], dtype="string"),
                "vmm_status": pd.array([r.status for r in reqs], dtype="string"),
                "wakeups": np.array([r.wakeups for r in reqs], dtype=np.int64),
            }
        )
