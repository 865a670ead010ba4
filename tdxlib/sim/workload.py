"""Who asks for quotes and how a request travels: the requesters (one closed loop, or open Poisson
streams), the vCPU each request runs on, and the guest's quote driver — its lock and single shared
buffer (serialized strategies), TDREPORT + the GetQuote TDVMCALL, then the strategy's wait.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from tdxlib.cache import memo
from tdxlib.sim.delivery import Delivery
from tdxlib.sim.quotes import QuoteRequest, Quotes
from tdxlib.sim.scenario import Scenario
from tdxlib.tdx import ghci
from tdxlib.tdx.guest import TdGuest
from tdxlib.tdx.strategies import NotifyContext
from tdxlib.tdx.strategies.base import QUOTE_BUFFER_GPA, Recorder
from tdxlib.tdx.vmm import Vmm

__all__ = ["CpuChoice", "QuoteDriver", "Requesters"]

#: Random draws are taken in blocks (numpy scalars are slow); blocks double from the first to the last size.
_BLOCK_MIN = 64
_BLOCK_MAX = 4096


@memo(maxsize=None)
def _get_quote_status_name(code: int) -> str:
    """``ghci.get_quote_status_name``, remembered (called once per request)."""
    return ghci.get_quote_status_name(code)


@memo(maxsize=4)
def _request_buffer(size: int) -> bytes:
    """The shared buffer as the guest fills it for GetQuote (a zero TDREPORT); bytes are immutable."""
    return ghci.QuoteBuffer.request(bytes(ghci.TDX_REPORT_LEN)).to_bytes(size)


def _next_block(rng_draw: Callable[[int], Any], last: int) -> list[float]:
    # blocks grow 64, 128 ... 4096: short runs draw little; the stream is the same either way
    return rng_draw(min(_BLOCK_MAX, 2 * last or _BLOCK_MIN)).tolist()


class CpuChoice:
    """The vCPU a request runs on: uniform over the online vCPUs, from the CPU-choice random stream."""

    __slots__ = ("_guest", "_i", "_rng", "_u")

    def __init__(self, guest: TdGuest, rng: np.random.Generator) -> None:
        self._guest = guest
        self._rng = rng
        self._u: list[float] = []
        self._i = 0

    def uniform(self) -> float:
        """Next uniform [0, 1) draw of the stream (drawn in blocks: numpy scalars are slow)."""
        if self._i >= len(self._u):
            self._u = _next_block(self._rng.random, len(self._u))
            self._i = 0
        u = self._u[self._i]
        self._i += 1
        return float(u)

    def online_cpu(self) -> int:
        """A random online vCPU."""
        cpus = self._guest.online_cpu_tuple()
        if self._i < len(self._u):  # inlined uniform(): one draw per request
            u = self._u[self._i]
            self._i += 1
        else:
            u = self.uniform()
        return cpus[int(u * len(cpus))]


class QuoteDriver:
    """The guest's quote driver: one request (:meth:`request`, a process generator) from the lock to
    its return.

    Serialized strategies (the merged driver) hold one mutex per request and share one buffer: a
    request finding the buffer still in flight (abandoned by an earlier one) returns EBUSY.
    """

    def __init__(
        self,
        env: simpy.Environment,
        sc: Scenario,
        record: Recorder,
        *,
        quotes: Quotes,
        delivery: Delivery,
        cpus: CpuChoice,
        guest: TdGuest,
        vmm: Vmm,
        ctx: NotifyContext,
        frames: bool,
    ) -> None:
        self.env = env
        self.record = record
        self.quotes = quotes
        self.delivery = delivery
        self.cpus = cpus
        self.guest = guest
        self.vmm = vmm
        self.ctx = ctx
        self.frames = frames
        self.strategy = sc.strategy
        self.work_s = sc.guest_work_ms / 1000.0
        self.serialized = self.strategy.serialized
        # one requester, one request at a time: the mutex is never contended, so skip simpy's
        # Resource (two scheduler events per request) and hold it directly
        self.contended = sc.workload != "closed"
        self.lock = simpy.Resource(env, capacity=1) if self.serialized else None
        self.lock_waiters = 0
        self.lock_holder: QuoteRequest | None = None
        self.buffer_free_at = -1.0  # single shared buffer (serialized): busy until the VMM answers
        self.buf_size = ghci.GET_QUOTE_BUF_SIZE
        self.buffer = _request_buffer(self.buf_size)
        self.gpa = ghci.shared_gpa(QUOTE_BUFFER_GPA, vmm.shared_bit)  # one buffer address for all

    def holder_stuck(self) -> bool:
        """The lock is held by a request that never returns: the lock is never freed."""
        return self.lock_holder is not None and self.lock_holder.stuck

    def request(self, req: QuoteRequest) -> Any:
        """One quote request (a process generator): lock, TDREPORT + GetQuote, wait per strategy."""
        return self._request_body(req) if self.lock is None else self._locked_request(req)

    def _locked_request(self, req: QuoteRequest) -> Any:
        """A request behind the driver's mutex (serialized strategies): EBUSY while the buffer is busy."""
        assert self.lock is not None
        if not self.contended:
            yield from self._holding_lock(req)
            return
        with self.lock.request() as grant:
            self.lock_waiters += 1
            yield grant
            self.lock_waiters -= 1
            yield from self._holding_lock(req)

    def _holding_lock(self, req: QuoteRequest) -> Any:
        self.lock_holder = req
        try:
            if self.env.now < self.buffer_free_at:
                self.quotes.finish(req, "busy", "", "EBUSY")
                return
            yield from self._request_body(req)
        finally:
            self.lock_holder = None

    def _request_body(self, req: QuoteRequest) -> Any:
        if self.work_s > 0:
            yield self.env.timeout(self.work_s)
        queued = self._get_quote(req)
        if queued is None:
            return
        if self.strategy.uses_interrupt:
            in_flight = yield from self.delivery.wait_interrupt(req, queued)
        else:
            in_flight = yield from self.delivery.wait_poll(req)
        if in_flight and self.serialized:
            self.buffer_free_at = req.complete_at  # abandoned in flight: the shared buffer stays busy

    def _get_quote(self, req: QuoteRequest) -> bool | None:
        """The GetQuote TDVMCALL: None if it failed (the request returned EIO), else whether the
        request was queued to the quote service (False: answered at once)."""
        call = self.strategy.get_quote_call(self.ctx, self.gpa, self.buf_size)
        req.call = call
        if not self.guest.is_online(req.cpu):
            req.cpu = self.cpus.online_cpu()
            req.apic = self.guest.apic_ids[req.cpu]
        status = self.vmm.get_quote(call, req.apic, self.buffer)
        vec = call.vector
        req.vector = -1 if vec is None else vec
        self.record(
            "get_quote",
            quote_id=req.qid,
            cpu=req.cpu,
            apic_id=req.apic,
            vector=vec,
            detail=ghci.status_name(status) if self.frames else "",
        )
        if status != ghci.TDVMCALL_STATUS_SUCCESS:
            self.quotes.finish(req, "failed", "", "EIO")
            return None
        header = self.vmm.last_header_status
        if header is not None and header != ghci.GET_QUOTE_IN_FLIGHT:
            # answered at once (no quote service): status written, never notified
            req.complete_at = self.env.now
            req.service_ms = 0.0
            req.success = header == ghci.GET_QUOTE_SUCCESS
            req.status = _get_quote_status_name(header)
            req.done = True
            return False
        self._queue_service(req)
        return True

    def _queue_service(self, req: QuoteRequest) -> None:
        """The quote service takes the request: its time and outcome, and the completion to come."""
        t_ms = self.vmm.service_time_ms()
        outcome = self.vmm.service_outcome()
        req.success = outcome == ghci.GET_QUOTE_SUCCESS
        req.status = _get_quote_status_name(outcome)
        if t_ms is not None:
            req.service_ms = t_ms
            req.complete_at = self.env.now + t_ms / 1000.0
            self.delivery.complete_after(req, t_ms / 1000.0)


class Requesters:
    """Who asks for quotes: one closed-loop requester (the next quote ``think_ms`` after the last
    returns, ``backoff_ms`` after an error), or ``requesters`` open Poisson streams."""

    def __init__(
        self,
        env: simpy.Environment,
        stop: simpy.Event,
        sc: Scenario,
        *,
        quotes: Quotes,
        driver: QuoteDriver,
        cpus: CpuChoice,
        guest: TdGuest,
        check_done: Callable[[], None],
        seed: np.random.SeedSequence,
    ) -> None:
        self.env = env
        self.stop = stop
        self.sc = sc
        self.quotes = quotes
        self.driver = driver
        self.cpus = cpus
        self.guest = guest
        self.check_done = check_done
        self._seed = seed
        self._gaps: list[float] = []
        self._gap_i = 0
        self.done = False  # no more requests will be issued

    def start(self) -> None:
        """Start the requesters' processes."""
        if self.sc.workload == "closed":
            self.env.process(self._closed_loop())
        else:
            counter = [0, 0]  # requests issued, streams ended
            for r in range(self.sc.requesters):
                self.env.process(self._open_source(r, counter))

    def finished(self) -> None:
        """No more requests will be issued."""
        self.done = True
        self.check_done()

    def _issue(self, requester: int) -> QuoteRequest:
        cpu = self.cpus.online_cpu()
        return self.quotes.issue(requester, cpu, self.guest.apic_ids[cpu])

    def _closed_loop(self) -> Any:
        sc = self.sc
        n = 0
        while sc.quotes is None or n < sc.quotes:
            req = self._issue(0)
            n += 1
            yield from self.driver.request(req)
            if self.stop.triggered:
                return
            pause = sc.think_ms if req.outcome == "completed" else max(sc.backoff_ms, sc.think_ms)
            if pause > 0:
                yield self.env.timeout(pause / 1000.0)
        self.finished()

    @functools.cached_property
    def _rng(self) -> np.random.Generator:
        """The open workload's stream, created on first use (most runs never draw from it)."""
        return np.random.default_rng(self._seed)

    def _gap(self) -> float:
        """The next exponential(1) draw of the workload stream (drawn in blocks)."""
        if self._gap_i >= len(self._gaps):
            self._gaps = _next_block(functools.partial(self._rng.exponential, 1.0), len(self._gaps))
            self._gap_i = 0
        gap = self._gaps[self._gap_i]
        self._gap_i += 1
        return gap

    def _open_source(self, requester: int, counter: list[int]) -> Any:
        sc = self.sc
        env = self.env
        rate = sc.rate_per_s / sc.requesters
        quotes, duration = sc.quotes, sc.duration_s
        while True:
            yield env.timeout(self._gap() / rate)
            if quotes is not None and counter[0] >= quotes:
                break
            if duration is not None and env.now >= duration:
                break
            counter[0] += 1
            req = self._issue(requester)
            env.process(self.driver.request(req))
            if quotes is not None and counter[0] >= quotes:
                break
        counter[1] += 1
        if counter[1] == sc.requesters:
            self.finished()
