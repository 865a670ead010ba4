"""The run itself: ``run(scenario) -> Result``. Boots the guest (a copy of a cached booted one), the
VMM and the notify strategy, wires the parts of a run — workload, delivery, hotplug, the books of
requests and events — to one simpy environment, runs it until the run is over, and builds the
:class:`~tdxlib.sim.result.Metrics` once, from the counters each part kept.
"""

from __future__ import annotations

import contextlib

import numpy as np
import simpy

from tdxlib.cache import memo
from tdxlib.errors import ValidationError
from tdxlib.kernel.jiffies import JiffyClock
from tdxlib.kernel.limits import NR_CPUS_MAX
from tdxlib.kernel.profile import GuestKernel
from tdxlib.sim.delivery import Delivery
from tdxlib.sim.events import EventLog, NoEventLog
from tdxlib.sim.hotplug import CpuHotplug
from tdxlib.sim.quotes import Quotes
from tdxlib.sim.result import Metrics, Result
from tdxlib.sim.scenario import Scenario
from tdxlib.sim.workload import CpuChoice, QuoteDriver, Requesters
from tdxlib.tdx.guest import TdGuest
from tdxlib.tdx.strategies import NotifyContext
from tdxlib.tdx.vmm import Vmm

__all__ = ["booted_guest", "run"]


@memo(maxsize=1024)
def _seed_streams(seed: int) -> tuple[tuple[np.random.SeedSequence, ...], int, float]:
    """The five independent seed streams of a run (work, VMM, hotplug, clock, CPU choice) and the jiffy
    clock's offset and phase drawn from the clock stream; cached per seed (spawning costs more than the
    rest of a small run's set-up). Runs only make generators from these SeedSequences, which does not
    alter them, so every run of a seed may share them."""
    seeds = tuple(np.random.SeedSequence(seed).spawn(5))
    rng_clock = np.random.default_rng(seeds[3])
    return seeds, int(rng_clock.integers(0, 1 << 20)), float(rng_clock.random())


#: The most vCPUs the booted guest templates of one process hold together (~25 KB of allocator state
#: each: ~200 MB). Many small guests fit (a sweep cycles through dozens: a count of 16 thrashed), or one
#: of NR_CPUS_MAX; a count would have let 16 guests of 8192 vCPUs take 3 GB.
GUEST_TEMPLATE_VCPUS = NR_CPUS_MAX


@memo(maxsize=GUEST_TEMPLATE_VCPUS, weigh=lambda guest: guest.ncpus, copy=TdGuest.copy)
def booted_guest(
    cpus: int,
    kernel: GuestKernel,
    apic_ids: str | tuple[int, ...],
    early: bool,
    device_irqs: int,
    managed_queues: int,
) -> TdGuest:
    """A booted guest, each call its own copy of a cached template (booting costs more than copying)."""
    return TdGuest(
        cpus,
        kernel=kernel,
        apic_ids=apic_ids,
        online=[0] if early else None,
        device_irqs=device_irqs,
        managed_queues=managed_queues,
    )


def notify_place(ctx: NotifyContext) -> tuple[int | None, int | None]:
    """(CPU, vector) of the notify IRQ now; (None, vector) for a system vector; (None, None) if none."""
    if ctx.irq is not None:
        return (None, None) if ctx.irq.shutdown else (ctx.irq.cpu, ctx.irq.vector)
    return None, ctx.system_vector


class _Run:
    """One execution of a scenario (not reusable): the parts of the run, and when it is over."""

    def __init__(self, sc: Scenario, frames: bool) -> None:
        self.sc = sc
        self.frames = frames
        self.seeds, clock_offset, clock_phase = _seed_streams(sc.seed)
        self.kernel = k = sc.guest_kernel()
        self.clock = JiffyClock(k.hz, offset=clock_offset, phase=clock_phase, extra_jiffy=k.extra_jiffy)
        self.env = simpy.Environment()
        self.stop = self.env.event()
        self.log = EventLog(self.env) if frames else NoEventLog()
        self.quotes = Quotes(self.env, self.log.record, self.check_done, frames=frames)

    def boot(self) -> None:
        """The guest and the VMM, the parts of the run, the strategy's set-up at init time."""
        sc, env, record = self.sc, self.env, self.log.record
        early = sc.strategy.early_init
        self.guest = g = booted_guest(
            sc.cpus,
            self.kernel,
            sc.apic_ids,
            early,
            0 if early else sc.device_irqs,
            0 if early else sc.managed_queues,
        )
        profile = sc.profile()
        vmm = Vmm(profile, np.random.default_rng(self.seeds[1]), apic_ids=g.apic_ids)
        self.delivery = Delivery(
            env,
            self.stop,
            self.quotes,
            record,
            guest=g,
            vmm=vmm,
            strategy=sc.strategy,
            clock=self.clock,
            offline_target=profile.offline_target,
        )
        self.ctx = self.delivery.ctx
        self.hotplug = CpuHotplug(
            env,
            self.stop,
            sc,
            record,
            guest=g,
            ctx=self.ctx,
            delivery=self.delivery,
            check_done=self.check_done,
            seed=self.seeds[2],
        )
        self._setup_notify(early)
        cpus = CpuChoice(g, np.random.default_rng(self.seeds[4]))
        self.driver = QuoteDriver(
            env,
            sc,
            record,
            quotes=self.quotes,
            delivery=self.delivery,
            cpus=cpus,
            guest=g,
            vmm=vmm,
            ctx=self.ctx,
            frames=self.frames,
        )
        self.requesters = Requesters(
            env,
            self.stop,
            sc,
            quotes=self.quotes,
            driver=self.driver,
            cpus=cpus,
            guest=g,
            check_done=self.check_done,
            seed=self.seeds[0],
        )

    def _setup_notify(self, early: bool) -> None:
        """The notify strategy's set-up at boot (before SMP bring-up and the devices if ``early``)."""
        sc, g = self.sc, self.guest
        when = "early" if early else "late"
        self.log.record(
            "boot",
            cpu=0,
            detail=f"{sc.cpus} vCPUs, kernel {self.kernel.name}, layout {g.layout.name}, {when} init",
        )
        sc.strategy.setup(self.ctx)
        self.setup_place = notify_place(self.ctx)
        self.hotplug.note_registration()
        if early:
            g.bring_up()
            if sc.device_irqs:
                g.add_device_irqs(sc.device_irqs)
            if sc.managed_queues:
                g.add_managed_queues(sc.managed_queues)

    def check_done(self) -> None:
        """Stop the run once every request still out can never return and none will be issued."""
        if self.stop.triggered:
            return
        active = self.quotes.active
        stuck = self.quotes.n_stuck
        holder = self.driver.lock_holder  # read here, not asked: this runs after every request
        if holder is not None and holder.stuck:
            stuck += self.driver.lock_waiters  # queued behind a request that never returns
        if self.delivery.n_pending or len(active) != stuck:
            return
        # a closed-loop requester waits on its (stuck) request: nothing will be issued any more
        blocked = self.sc.workload == "closed" and bool(active)
        if self.requesters.done or blocked:
            self.stop.succeed()

    def execute(self) -> Result:
        """Boot, run until the run is over (or its horizon), collect."""
        sc, env = self.sc, self.env
        self.boot()
        self.requesters.start()
        self.hotplug.start()
        horizon = sc.max_time_s if sc.duration_s is None else min(sc.duration_s, sc.max_time_s)
        limit = env.timeout(horizon)
        if sc.quotes == 0:
            self.requesters.finished()
        with contextlib.suppress(RuntimeError):  # no events left: every remaining request hangs
            env.run(until=env.any_of([self.stop, limit]))
        if not self.stop.triggered:
            self.stop.succeed()
        self.hotplug.loss.close()
        return self.collect()

    def collect(self) -> Result:
        """The Result: requests still out end as hung or unfinished; metrics; frames unless metrics-only."""
        self.quotes.close(holder_stuck=self.driver.holder_stuck())
        self.log.record("end", detail=f"{len(self.quotes.active)} requests still waiting")
        metrics = self.metrics()
        if not self.frames:
            return Result(self.sc, None, None, metrics)
        assert isinstance(self.log, EventLog)
        return Result(self.sc, self.log.frame(), self.quotes.frame(), metrics)

    def metrics(self) -> Metrics:
        """The run's Metrics, from the counters of its parts and the final state of guest and strategy."""
        ctx, g = self.ctx, self.guest
        end = self.env.now
        quotes, delivered = self.quotes.metrics(), self.delivery.metrics()
        vpc = self.sc.strategy.vectors_per_cpu(ctx)
        free = g.device_vectors_free()
        online = g._online
        notify_cpu, notify_vector = notify_place(ctx)
        return Metrics.from_fields(
            dict(
                **quotes,
                **delivered,
                **self.hotplug.metrics(),
                interrupts_handled=ctx.interrupts_handled,
                vectors_per_cpu=[int(v) for v in vpc],
                vectors_total=int(vpc.sum()),
                device_vectors_free_min=int(free[online].min()) if online.any() else 0,
                reregistrations=ctx.reregistrations,
                setup_calls=ctx.setup_calls,
                setup_failures=ctx.setup_failures,
                wakeups=delivered["poll_wakeups"] + ctx.interrupts_handled,
                fanout_callbacks=ctx.fanout_callbacks,
                notify_setup_cpu=self.setup_place[0],
                notify_setup_vector=self.setup_place[1],
                notify_cpu=notify_cpu,
                notify_vector=notify_vector,
                duration_s=float(end),
                quotes_per_s=quotes["completed"] / end if end > 0 else 0.0,
            )
        )


def run(scenario: Scenario, *, frames: bool = True) -> Result:
    """Simulate one scenario; deterministic for a given scenario (seed included).

    ``frames=False`` is the metrics-only fast path: no event or quote frame is built (``Result.events``
    and ``.quotes`` then raise), the metrics are identical to those of a run with frames.
    """
    if not isinstance(scenario, Scenario):
        raise ValidationError("scenario", type(scenario).__name__, "a tdxlib.sim.Scenario")
    return _Run(scenario, bool(frames)).execute()
