"""CPU hotplug during a run: the schedule (explicit events, or one every ``hotplug_every_s`` of a CPU
chosen at random, the notify IRQ's or from a list), taking vCPUs offline and online, the IRQ
migrations that follow, re-registering the notify IRQ, and the loss window while the VMM still
targets its old place.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from tdxlib.errors import CpuOfflineUnsupported
from tdxlib.sim.delivery import Delivery
from tdxlib.sim.scenario import Scenario
from tdxlib.tdx.guest import Migration, TdGuest
from tdxlib.tdx.strategies import NotifyContext, NotifyStrategy
from tdxlib.tdx.strategies.base import Recorder

__all__ = ["CpuHotplug", "LossWindow"]


class LossWindow:
    """The time the notify IRQ spends away from the (APIC ID, vector) of its last registration.

    Open from a migration away from that place until the guest registers again — or until a later
    migration brings the IRQ back there (periodic hotplug of the notify CPU bounces it between two
    CPUs); ``total_s`` sums the windows, ``longest_s`` is the longest.
    """

    __slots__ = ("_env", "longest_s", "open_at", "place", "total_s")

    def __init__(self, env: simpy.Environment) -> None:
        self._env = env
        self.place: tuple[int, int] | None = None  # (APIC ID, vector) the VMM was last told
        self.open_at: float | None = None
        self.total_s = 0.0
        self.longest_s = 0.0

    def registered(self, place: tuple[int, int] | None) -> None:
        """A successful registration, of ``place`` (None: the place is unchanged): the window closes."""
        if place is not None:
            self.place = place
        self.close()

    def moved(self, place: tuple[int, int]) -> None:
        """The notify IRQ moved to ``place``: the window is open while that differs from the registration."""
        if self.place == place:
            self.close()
        elif self.open_at is None:
            self.open_at = self._env.now

    def close(self) -> None:
        """End the open window (if any) now: add it to the total."""
        if self.open_at is not None:
            w = self._env.now - self.open_at
            self.total_s += w
            self.longest_s = max(self.longest_s, w)
            self.open_at = None


class CpuHotplug:
    """The scenario's hotplug schedule applied to the guest, with its consequences for the notify IRQ."""

    def __init__(
        self,
        env: simpy.Environment,
        stop: simpy.Event,
        sc: Scenario,
        record: Recorder,
        *,
        guest: TdGuest,
        ctx: NotifyContext,
        delivery: Delivery,
        check_done: Callable[[], None],
        seed: np.random.SeedSequence,
    ) -> None:
        self.env = env
        self.stop = stop
        self.sc = sc
        self.record = record
        self.guest = guest
        self.ctx = ctx
        self.strategy: NotifyStrategy = sc.strategy
        self.delivery = delivery
        self.check_done = check_done
        self._seed = seed
        self.offlined: list[int] = []  # taken offline by the schedule, not yet back
        self.loss = LossWindow(env)
        self.offline_refused = 0
        self.offline_ok = 0
        self.online_events = 0
        self.irq_migrations = 0
        self.notify_migrations = 0
        self.exposed_requests = 0

    @functools.cached_property
    def _rng(self) -> np.random.Generator:
        """The run's stream for random hotplug CPUs, created on first use (most runs never draw from it)."""
        return np.random.default_rng(self._seed)

    def start(self) -> None:
        """Start the schedule's processes (explicit events, periodic events); a schedule on a guest whose
        kernel cannot offline CPUs is refused here, before the run, with the kernel's reason."""
        off = self.guest.offlining
        if (self.sc.hotplug or self.sc.hotplug_every_s is not None) and not off.allowed:
            raise CpuOfflineUnsupported(
                off.kernel,
                off.reason + "; a hotplug scenario needs a kernel that can (e.g. kernel='linux-6.12')",
            )
        if self.sc.hotplug:
            self.env.process(self._explicit())
        if self.sc.hotplug_every_s is not None:
            self.env.process(self._periodic())

    # ------------------------------------------------------------------ the schedule

    def _explicit(self) -> Any:
        for ev in self.sc.hotplug:
            if ev.time_s > self.env.now:
                yield self.env.timeout(ev.time_s - self.env.now)
            self.apply(ev.cpu, ev.action)

    def _periodic(self) -> Any:
        every = self.sc.hotplug_every_s
        assert every is not None
        k = 0
        while True:
            yield self.env.timeout(every)
            if self.stop.triggered:
                return
            if k % 2 == 0:
                cpu = self._pick_cpu(k // 2)
                if cpu is None:
                    self.record("hotplug_skipped", detail="no CPU to take offline")
                else:
                    self.apply(cpu, "offline")
            else:
                while self.offlined:
                    self.apply(self.offlined.pop(), "online")
            k += 1

    def _pick_cpu(self, i: int) -> int | None:
        """The ``i``-th CPU to take offline: from the list, the notify IRQ's, or a random online AP."""
        g = self.guest
        sel = self.sc.hotplug_cpus
        if isinstance(sel, tuple):
            cpu = sel[i % len(sel)]
            return cpu if g.is_online(cpu) else None
        if sel == "notify" and self.ctx.irq is not None:
            cpu = self.ctx.irq.cpu
            if cpu != g.bsp and g.is_online(cpu):
                return cpu
        online = g.online_cpu_tuple()  # ascending; the BSP (CPU 0) is always first
        if len(online) < 2:
            return None
        return online[1 + int(self._rng.integers(len(online) - 1))]

    # ------------------------------------------------------------------ offline and online

    def apply(self, cpu: int, action: str) -> None:
        """Take ``cpu`` offline or bring it online (``action``), unless that is impossible or a no-op."""
        if action == "offline":
            self._offline(cpu)
        else:
            self._online(cpu)

    def _offline(self, cpu: int) -> None:
        g = self.guest
        if not g.is_online(cpu):
            self.record("hotplug_skipped", cpu=cpu, detail="already offline")
            return
        if len(g.online_cpu_tuple()) <= 1:
            self.record("hotplug_skipped", cpu=cpu, detail="last online CPU")
            return
        res = g.cpu_offline(cpu)
        if not res.ok:
            self.offline_refused += 1
            self.record("offline_refused", cpu=cpu, apic_id=g.apic_ids[cpu], detail=res.reason)
            return
        self.offlined.append(cpu)
        self.offline_ok += 1
        self.record(
            "cpu_offline", cpu=cpu, apic_id=g.apic_ids[cpu], detail=f"{len(res.migrations)} IRQs moved"
        )
        for mig in res.migrations:
            self.irq_migrations += 1
            self.record(
                "irq_migrate",
                cpu=mig.new_cpu,
                apic_id=g.apic_ids[mig.new_cpu],
                vector=mig.new_vector,
                detail=f"{mig.irq.name}: CPU {mig.old_cpu} vector {mig.old_vector:#x}"
                + (" (affinity broken)" if mig.affinity_broken else ""),
            )
            if mig.irq is self.ctx.irq:
                self._notify_migrated(mig)

    def _online(self, cpu: int) -> None:
        g = self.guest
        if g.is_online(cpu):
            self.record("hotplug_skipped", cpu=cpu, detail="already online")
            return
        g.cpu_online(cpu)
        if cpu in self.offlined:
            self.offlined.remove(cpu)
        self.online_events += 1
        self.record("cpu_online", cpu=cpu, apic_id=g.apic_ids[cpu])
        self.delivery.release_held(cpu)
        self.check_done()

    # ------------------------------------------------------------------ the notify IRQ

    def _notify_migrated(self, mig: Migration) -> None:
        self.notify_migrations += 1
        exposed = self.delivery.in_flight() if self.strategy.uses_interrupt else 0
        self.exposed_requests += exposed
        self.record(
            "notify_migrate",
            cpu=mig.new_cpu,
            apic_id=self.guest.apic_ids[mig.new_cpu],
            vector=mig.new_vector,
            detail=f"from CPU {mig.old_cpu} vector {mig.old_vector:#x}; {exposed} in flight",
        )
        if self.ctx.registered is not None:
            self.loss.moved((self.guest.apic_ids[mig.new_cpu], mig.new_vector))
        delay = self.strategy.on_irq_migrated(self.ctx, mig)
        if delay is not None:
            self.env.process(self._reregister_after(delay))

    def note_registration(self) -> None:
        """After a successful SetupEventNotifyInterrupt: the notify IRQ's place is what the VMM knows."""
        irq = self.ctx.irq
        if self.ctx.registered is not None and irq is not None and not irq.shutdown:
            self.loss.registered((self.guest.apic_ids[irq.cpu], irq.vector))
        else:
            self.loss.registered(None)

    def _reregister_after(self, delay: float) -> Any:
        if delay > 0:
            yield self.env.timeout(delay)
        if self.stop.triggered:
            return
        failures = self.ctx.setup_failures
        self.strategy.register_again(self.ctx)
        if self.ctx.setup_failures == failures:
            self.note_registration()

    # ------------------------------------------------------------------ the numbers

    def metrics(self) -> dict[str, Any]:
        """The Metrics fields of hotplug: offline/online events, IRQ migrations, the loss window."""
        return {
            "offline_refused": self.offline_refused,
            "offline_ok": self.offline_ok,
            "online_events": self.online_events,
            "irq_migrations": self.irq_migrations,
            "notify_migrations": self.notify_migrations,
            "exposed_requests": self.exposed_requests,
            "loss_window_s": self.loss.total_s,
            "loss_window_max_s": self.loss.longest_s,
        }
