"""The timeline: quote requests, VMM service, injections, CPU hotplug and IRQ migration on simpy.

``run(Scenario(...)) -> Result`` builds a :class:`~tdxlib.tdx.guest.TdGuest`, a :class:`~tdxlib.tdx.vmm.Vmm`
and a notify strategy, then lets simpy drive them: requesters issue GetQuote (open workload: Poisson
arrivals from several requesters; closed loop: one requester, the next quote when the last returns —
what the merged driver's mutex forces), the VMM answers after its service time and injects (or not)
per its profile, the guest takes the interrupt on whatever CPU it lands on, pollers sleep as
``msleep_interruptible`` really sleeps, and CPUs go offline and online on a schedule, migrating the
notify IRQ. ``Result.events`` is a tidy frame (one row per event), ``Result.quotes`` one row per
request, ``Result.metrics`` the numbers the claims are decided on. Same scenario and seed, same frames.
``run(scenario, frames=False)`` is the metrics-only fast path (no frames are built; same metrics, bit
for bit): what sweeps and the notebooks' widget panels use.

``sweep(scenarios, executor=None)`` runs many scenarios through any ``concurrent.futures.Executor``
(a process pool, or a Dask ``client.get_executor()``), results in input order.

One concept per module:

- :mod:`~tdxlib.sim.scenario` — ``Scenario``, ``Hotplug``, ``load_scenario``: what to simulate;
- :mod:`~tdxlib.sim.result` — ``Result``, ``Metrics``, ``metrics_frame``, ``EVENT_KINDS``, ``OUTCOMES``;
- :mod:`~tdxlib.sim.engine` — ``run``: boot, the simpy environment, when the run is over, the metrics;
- :mod:`~tdxlib.sim.workload` — the requesters and the quote driver (its lock, the shared buffer);
- :mod:`~tdxlib.sim.delivery` — completion, injection, taking the interrupt, interrupt and poll waits;
- :mod:`~tdxlib.sim.hotplug` — the hotplug schedule, IRQ migration, re-registration, the loss window;
- :mod:`~tdxlib.sim.quotes` and :mod:`~tdxlib.sim.events` — the run's books of requests and events;
- :mod:`~tdxlib.sim.sweep` — ``sweep``: many runs through an executor.
"""

from __future__ import annotations

from tdxlib.sim.engine import run
from tdxlib.sim.result import EVENT_KINDS, OUTCOMES, Metrics, Result, metrics_frame
from tdxlib.sim.scenario import Hotplug, Scenario, load_scenario
from tdxlib.sim.sweep import sweep

__all__ = [
    "EVENT_KINDS",
    "OUTCOMES",
    "Hotplug",
    "Metrics",
    "Result",
    "Scenario",
    "load_scenario",
    "metrics_frame",
    "run",
    "sweep",
]
