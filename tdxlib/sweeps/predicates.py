"""What each claim says about one simulated cell: a predicate on the cell's Scenario and Metrics.

A claim check (:mod:`tdxlib.argument.claims`) decides a claim from experiments built for it — two
designs side by side, a CPU taken offline at a chosen moment, a thousand quotes — at the check's own
sizes. A sweep asks a different question: *in which parts of the design space does what the claim
says show up?* So each cell of a sweep is one ordinary run, and the claim is read off that run by a
predicate registered here under the claim's id:

- ``None``: the claim says nothing about this cell (another design, or nothing happened that the
  claim is about: no notification injected, no migration of the notify IRQ, no CPU offlined);
- ``True``: the run shows what the claim says; ``False``: the run contradicts it.

The premises a claim takes from the VMM (it injects, it honours an APIC ID, it never answers) are
not filtered out: they are axes, and the regions of :mod:`tdxlib.sweeps.regions` show where they hold.
Claims about what no run shows (a kernel config, ``config-gated``) have no predicate. Predicates are
pure functions of the cell, cheap next to the run itself.
"""

from __future__ import annotations

from collections.abc import Callable

from tdxlib.sim import Metrics, Scenario
from tdxlib.tdx.strategies import (
    CallerVcpu,
    DynamicIrq,
    NotifyStrategy,
    Polling,
    QuoteCarriesVector,
    SystemVector,
)

__all__ = ["PREDICATES", "Predicate", "judge_cell", "predicate", "predicate_ids"]

#: A claim's reading of one cell: True (shows it), False (contradicts it), None (not about this cell).
Predicate = Callable[[Scenario, Metrics], bool | None]

#: claim id -> its predicate, in registration order.
PREDICATES: dict[str, Predicate] = {}


def predicate(claim_id: str) -> Callable[[Predicate], Predicate]:
    """Decorator: ``fn(scenario, metrics) -> bool | None`` is what ``claim_id`` says about one cell."""

    def deco(fn: Predicate) -> Predicate:
        if claim_id in PREDICATES:
            raise ValueError(f"claim {claim_id!r} already has a predicate")
        PREDICATES[claim_id] = fn
        return fn

    return deco


def predicate_ids() -> tuple[str, ...]:
    """The claims that have a per-cell predicate."""
    return tuple(PREDICATES)


def judge_cell(claim_ids: tuple[str, ...], sc: Scenario, m: Metrics) -> dict[str, bool | None]:
    """Each claim's reading of one cell."""
    return {cid: PREDICATES[cid](sc, m) for cid in claim_ids}


# --------------------------------------------------------------------------------------------------
# What the predicates share
# --------------------------------------------------------------------------------------------------


def _notified(m: Metrics) -> int:
    """Injected notifications that reached the quote driver."""
    return m.notifications_injected - m.lost_notifications


def _interrupt_only(s: NotifyStrategy) -> bool:
    """Waits for the interrupt alone: no timeout, no polling fallback."""
    return s.uses_interrupt and s.timeout_s is None and s.fallback is None


def _has_timeout(s: NotifyStrategy) -> bool:
    """A request returns by itself: a timeout, a polling fallback, or a poller with a timeout."""
    if isinstance(s, Polling):
        return s.timeout_s is not None or s.iterations is not None
    return s.timeout_s is not None or s.fallback is not None


def _delivered(m: Metrics) -> bool | None:
    """Every injected notification reached the quote driver (None: nothing was injected)."""
    return None if m.notifications_injected == 0 else m.lost_notifications == 0


# --------------------------------------------------------------------------------------------------
# The claims, in the order of data/claims/claims.yaml
# --------------------------------------------------------------------------------------------------


@predicate("notify-works")
def _notify_works(sc: Scenario, m: Metrics) -> bool | None:
    """A system vector: every quote issued was notified, none lost."""
    if not isinstance(sc.strategy, SystemVector):
        return None
    return _notified(m) == m.quotes_issued and m.lost_notifications == 0


@predicate("any-cpu-needs-system-vector")
def _any_cpu(sc: Scenario, m: Metrics) -> bool | None:
    """A one-CPU vector the VMM is not told about (no APIC ID, not called from its CPU) loses some."""
    s = sc.strategy
    if (
        not isinstance(s, DynamicIrq)
        or s.apic_targeting
        or s.call_from_target
        or m.notifications_injected == 0
    ):
        return None
    return m.lost_notifications > 0


@predicate("apic-id-enables-dynamic")
def _apic_id(sc: Scenario, m: Metrics) -> bool | None:
    """A one-CPU vector named by APIC ID receives every notification."""
    s = sc.strategy
    if not isinstance(s, DynamicIrq) or isinstance(s, CallerVcpu) or not s.apic_targeting:
        return None
    return _delivered(m)


@predicate("caller-vcpu-rule-suffices")
def _caller(sc: Scenario, m: Metrics) -> bool | None:
    """The IRQ kept on the CPU that called SetupEventNotifyInterrupt receives every notification."""
    return _delivered(m) if isinstance(sc.strategy, CallerVcpu) else None


@predicate("hotplug-needs-reregistration")
def _hotplug(sc: Scenario, m: Metrics) -> bool | None:
    """When the notify IRQ migrated, it spent time away from the place the VMM was told (a loss window)."""
    if not sc.strategy.notify_irq_migrates or m.notify_migrations == 0:
        return None
    return m.loss_window_s > 0


@predicate("may-inject-needs-polling")
def _may_inject(sc: Scenario, m: Metrics) -> bool | None:
    """On a VMM that answers but never injects: an interrupt-only guest does not complete, a poller does."""
    prof = sc.profile()
    if prof.inject != "never" or prof.never_answers or m.quotes_issued == 0:
        return None
    if isinstance(sc.strategy, Polling):
        return m.completed == m.quotes_issued
    if _interrupt_only(sc.strategy):
        return m.completed < m.quotes_issued
    return None


@predicate("timeout-required")
def _timeout(sc: Scenario, m: Metrics) -> bool | None:
    """Facing a quote service that never answers, a request returns exactly when it has a timeout."""
    if not sc.profile().never_answers or m.quotes_issued == 0:
        return None
    return _has_timeout(sc.strategy) == (m.hung == 0)


@predicate("system-vector-wasteful")
def _wasteful(sc: Scenario, m: Metrics) -> bool | None:
    """The reservation is felt: with a system vector a CPU offline was refused (vectors exhausted)."""
    if not isinstance(sc.strategy, SystemVector) or m.offline_refused + m.offline_ok == 0:
        return None
    return m.offline_refused > 0


@predicate("removal-fan-out")
def _fan_out(sc: Scenario, m: Metrics) -> bool | None:
    """With several drivers registered, every one of them is called for every notification."""
    s = sc.strategy
    if s.drivers < 2 or m.interrupts_handled == 0:
        return None
    return m.fanout_callbacks == s.drivers * m.interrupts_handled


@predicate("getquote-carries-vector")
def _carries(sc: Scenario, m: Metrics) -> bool | None:
    """The vector passed in GetQuote receives every notification."""
    return _delivered(m) if isinstance(sc.strategy, QuoteCarriesVector) else None


@predicate("early-init-lands-on-cpu0")
def _early(sc: Scenario, m: Metrics) -> bool | None:
    """An IRQ allocated from an early initcall is on CPU 0."""
    if not sc.strategy.early_init or m.notify_setup_cpu is None:
        return None
    return m.notify_setup_cpu == 0


@predicate("polling-sufficient")
def _polling(sc: Scenario, m: Metrics) -> bool | None:
    """The merged poller returns every quote of a working quote service (no timeout, no -EBUSY)."""
    if not isinstance(sc.strategy, Polling) or sc.profile().never_answers or m.quotes_issued == 0:
        return None
    return m.completed == m.quotes_issued
