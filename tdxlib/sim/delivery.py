"""How a completed quote reaches the guest: the VMM writes the status and injects (or not), the vCPU
takes the interrupt (or it is lost: spurious, misdirected, dropped or held at an offline vCPU), the
quote driver's callback wakes its waiters — or the requester polls, as ``msleep_interruptible`` sleeps.

:class:`Delivery` owns the driver's list of waiting requests and the interrupts held for offline
vCPUs, and counts what became of every notification.
"""

from __future__ import annotations

import errno as _errno
import functools
import math
from dataclasses import dataclass, fields
from typing import Any

import simpy

from tdxlib.kernel.jiffies import JiffyClock
from tdxlib.sim.quotes import QuoteRequest, Quotes
from tdxlib.tdx.guest import TdGuest
from tdxlib.tdx.strategies import NotifyContext, NotifyStrategy, Polling, PollOutcome
from tdxlib.tdx.strategies.base import Recorder
from tdxlib.tdx.vmm import Vmm

__all__ = ["Delivery"]


@dataclass(slots=True)
class _Counts:
    """What became of completions and notifications (named as the Metrics fields they become)."""

    boundary_timeouts: int = 0
    completed_by_interrupt: int = 0
    completed_by_poll: int = 0
    displaced_callbacks: int = 0
    dropped_offline: int = 0
    empty_quotes: int = 0
    lost_notifications: int = 0  # lost on the way; those still held at the end are added by metrics()
    misdirected_interrupts: int = 0
    not_injected: int = 0
    notifications_injected: int = 0
    poll_wakeups: int = 0
    spurious_interrupts: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Delivery:
    """Completions of one run, from the VMM's status write to the requester's return.

    Builds the strategy's :class:`NotifyContext` (``ctx``), whose ``on_notify`` is the quote driver's
    callback here. ``offline_target`` is the VMM profile's rule for an injection at an offline vCPU:
    ``"pending"`` holds it until the vCPU is back (:meth:`release_held`), anything else drops it.
    """

    def __init__(
        self,
        env: simpy.Environment,
        stop: simpy.Event,
        quotes: Quotes,
        record: Recorder,
        *,
        guest: TdGuest,
        vmm: Vmm,
        strategy: NotifyStrategy,
        clock: JiffyClock,
        offline_target: str,
    ) -> None:
        self.env = env
        self.stop = stop
        self.quotes = quotes
        self.record = record
        self.guest = guest
        self.vmm = vmm
        self.strategy = strategy
        self.clock = clock
        self.hold_offline = offline_target == "pending"
        self.ctx = NotifyContext(
            guest=guest, vmm=vmm, on_notify=self.on_notify, record=record, shared_bit=vmm.shared_bit
        )
        self.bsp_apic = guest.apic_id(guest.bsp)
        self.waiting: list[QuoteRequest] = []  # v8-style list of in-flight entries the worker walks
        self.pending: dict[int, list[tuple[int, int | None]]] = {}  # held per offline vCPU
        self.n_pending = 0
        self.counts = _Counts()

    # ------------------------------------------------------------------ the VMM side

    def complete_after(self, req: QuoteRequest, delay_s: float) -> None:
        """The quote service answers ``req`` in ``delay_s``: then :meth:`complete`."""
        ev = self.env.timeout(delay_s)
        ev.callbacks.append(functools.partial(self._complete_cb, req))

    def _complete_cb(self, req: QuoteRequest, _event: simpy.Event) -> None:
        self.complete(req)

    def complete(self, req: QuoteRequest) -> None:
        """The VMM writes the final status, then injects (or not)."""
        req.done = True
        self.record("service_done", quote_id=req.qid, detail=req.status)
        if self.stop.triggered:
            return
        target = self.vmm.notification(req.apic, self.guest.online_apic_ids(), self.bsp_apic, req.call)
        if target is None:
            self.counts.not_injected += 1
            self.record("not_injected", quote_id=req.qid)
        else:
            vector, apic = target
            self._inject(apic, vector, req.qid)
        self._after_notification(req)

    def _inject(self, apic: int, vector: int, qid: int) -> None:
        g = self.guest
        self.counts.notifications_injected += 1
        cpu = g.cpu_of_apic(apic)
        self.record("inject", quote_id=qid, cpu=cpu, apic_id=apic, vector=vector)
        if cpu is None or g.is_online(cpu):
            self.take_interrupt(apic, vector, qid)
        elif self.hold_offline:
            self.pending.setdefault(cpu, []).append((vector, qid))
            self.n_pending += 1
            self.record("pending", quote_id=qid, cpu=cpu, apic_id=apic, vector=vector)
        else:
            self.counts.dropped_offline += 1
            self.counts.lost_notifications += 1
            self.record("dropped_offline", quote_id=qid, cpu=cpu, apic_id=apic, vector=vector)

    def _after_notification(self, req: QuoteRequest) -> None:
        """A request whose completion could not wake it may now be stuck for good."""
        strat = self.strategy
        if (
            req in self.quotes.active
            and req.waiting
            and strat.uses_interrupt
            and strat.fallback is None
            and strat.timeout_s is None
            and not (req.wake is not None and req.wake.triggered)
        ):
            self.quotes.set_stuck(req, True)

    # ------------------------------------------------------------------ the guest side

    def take_interrupt(self, apic: int, vector: int, qid: int | None) -> None:
        """Deliver an interrupt to an online vCPU (or none) and classify its fate."""
        ctx = self.ctx
        hits = ctx.quote_callback_hits
        d = self.guest.deliver(apic, vector)
        where = {"quote_id": qid, "cpu": d.cpu, "apic_id": apic, "vector": vector}
        if d.kind == "handled" and d.owner == ctx.owner and ctx.owner:
            if ctx.quote_callback_hits > hits:
                self.record("irq_handled", **where, detail=d.owner or "")
                return
            self.counts.lost_notifications += 1
            self.counts.displaced_callbacks += 1
            self.record("misdirected", **where, detail="callback displaced")
            return
        self.counts.lost_notifications += 1
        if d.kind == "handled":
            self.counts.misdirected_interrupts += 1
            self.record("misdirected", **where, detail=d.owner or "")
        elif d.kind == "spurious":
            self.counts.spurious_interrupts += 1
            self.record("spurious", **where, detail="No irq handler for vector")
        else:
            self.counts.dropped_offline += 1
            self.record("dropped_offline", **where, detail=d.kind)

    def on_notify(self, cpu: int, vector: int) -> None:
        """The quote driver's callback: the worker completes every entry whose status left IN_FLIGHT."""
        if not self.waiting:
            return
        woken = [r for r in self.waiting if r.done]
        for r in woken:
            r.waiting = False
            self.waiting.remove(r)
            if r.stuck:
                self.quotes.set_stuck(r, False)
            if r.wake is not None and not r.wake.triggered:
                r.wake.succeed()

    def release_held(self, cpu: int) -> None:
        """``cpu`` is online again: the interrupts held for it arrive now."""
        held = self.pending.pop(cpu, [])
        self.n_pending -= len(held)
        for vector, qid in held:
            self.take_interrupt(self.guest.apic_ids[cpu], vector, qid)

    def in_flight(self) -> int:
        """Waiting requests the VMM has not answered yet (what a notify-IRQ migration exposes)."""
        return sum(1 for r in self.waiting if not r.done)

    # ------------------------------------------------------------------ the requester's wait

    def wait_poll(self, req: QuoteRequest) -> Any:
        """Poll for the status (a process generator); returns whether the request was abandoned with
        the buffer still in flight."""
        env = self.env
        strat: Polling = self.strategy  # type: ignore[assignment]
        start = env.now
        complete_at = None if math.isinf(req.complete_at) else req.complete_at
        out = strat.wait(start, complete_at, self.clock, success=req.success)
        req.wakeups = out.wakeups
        self.counts.poll_wakeups += out.wakeups
        if math.isinf(out.end_s):
            self.quotes.set_stuck(req, True)
            yield env.event()  # never triggers: the request hangs
            return False
        if out.end_s > start:
            yield env.timeout(out.end_s - start)
        return self._finish_poll(req, out)

    def _finish_poll(self, req: QuoteRequest, out: PollOutcome) -> bool:
        """End a request as ``wait_for_quote_completion()`` (and its caller's status check) ended it."""
        if out.boundary:
            self.counts.boundary_timeouts += 1
        if out.empty_quote:
            self.counts.empty_quotes += 1
        ret = "0" if out.ret == 0 else _errno.errorcode.get(-out.ret, str(out.ret))
        if out.completed:
            self.counts.completed_by_poll += 1
            self._end(req, "completed", "poll", ret)
        elif out.status == "in-flight" or out.ret == -_errno.ETIMEDOUT:
            self._end(req, "timed_out", "poll", ret)
        else:
            self._end(req, "failed", "poll", ret)
        return out.status == "in-flight"

    def wait_interrupt(self, req: QuoteRequest, queued: bool) -> Any:
        """Wait for the notification (a process generator), with the strategy's fallback poll or timeout;
        returns whether the request was abandoned with the buffer still in flight."""
        env = self.env
        strat = self.strategy
        req.wake = env.event()
        req.waiting = True
        self.waiting.append(req)
        start = env.now
        evs: list[simpy.Event] = [req.wake]
        poll_out = None
        fb = strat.fallback
        if fb is not None:
            complete_at = None if math.isinf(req.complete_at) else req.complete_at
            poll_out = fb.wait(start, complete_at, self.clock, success=req.success)
            if not math.isinf(poll_out.end_s):
                evs.append(env.timeout(max(0.0, poll_out.end_s - start), value="poll"))
        elif strat.timeout_s is not None:
            evs.append(env.timeout(strat.timeout_s, value="timeout"))
        elif not queued or math.isinf(req.complete_at):
            # interrupt only, no timeout: stuck if nothing will ever complete it
            self.quotes.set_stuck(req, True)
        if len(evs) == 1:
            yield req.wake
            fired = req.wake
        else:
            got = yield env.any_of(evs)
            fired = req.wake if req.wake in got else next(iter(got))
        if fired is req.wake:
            if fb is not None:
                req.wakeups = fb.wakeups_before(start, self.clock, env.now)
                self.counts.poll_wakeups += req.wakeups
            if req.success:
                self.counts.completed_by_interrupt += 1
                self._end(req, "completed", "interrupt", "0")
            else:
                self._end(req, "failed", "interrupt", "EIO")
            return False
        if fired.value == "poll" and poll_out is not None:
            req.wakeups = poll_out.wakeups
            self.counts.poll_wakeups += poll_out.wakeups
            return self._finish_poll(req, poll_out)
        self._end(req, "timed_out", "timeout", "ETIMEDOUT")
        return False

    def _end(self, req: QuoteRequest, outcome: str, via: str, ret: str) -> None:
        """``req`` returns: off the driver's waiting list, into the book."""
        if req.waiting:
            req.waiting = False
            self.waiting.remove(req)
        self.quotes.finish(req, outcome, via, ret)

    # ------------------------------------------------------------------ the numbers

    def metrics(self) -> dict[str, Any]:
        """The Metrics fields of delivery: every notification's fate, completions by path, poll wakeups."""
        out: dict[str, Any] = self.counts.as_dict()
        out["pending_at_end"] = self.n_pending
        out["lost_notifications"] += self.n_pending  # still held for an offline vCPU: never delivered
        return out
