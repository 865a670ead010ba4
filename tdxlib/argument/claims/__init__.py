"""The claims ledger: every claim of the 2022 thread (and its 2023 sequel) with an executable check.

Claims are data (``data/claims/claims.yaml``: id, author, date, message, source, our paraphrase).
Each id has one check here, registered with ``@check.register("id")``: it runs the models (the
simulator, the guest, the vector budget) with small seeded defaults and returns a :class:`Verdict` —
``holds``, ``fails`` or ``depends`` — with the deciding numbers and the conditions that flip it.
Keyword parameters re-run a check elsewhere: ``check("notify-works", vmm="never-injects")``.
:func:`ledger` puts them all in one pandas frame, in the order of the YAML file.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from tdxlib.argument.evidence import (
    binomial_interval,
    binomial_z,
    count_events,
    nobalancing_migration,
    placement_trials,
    spec_delta,
)
from tdxlib.cache import shared
from tdxlib.data import LineDict, LineList, data_path, load_yaml
from tdxlib.errors import DataError, ValidationError
from tdxlib.kernel.budget import budget, offline_limit
from tdxlib.kernel.jiffies import max_sleep_ms
from tdxlib.kernel.vectors import layout_switches, load_layout
from tdxlib.sim import Metrics, Result, Scenario, run
from tdxlib.tdx.strategies import (
    CallerVcpu,
    DynamicIrq,
    NotifyStrategy,
    Polling,
    QuoteCarriesVector,
    SystemVector,
    make_strategy,
)
from tdxlib.tdx.vmm import VmmProfile, load_profile

__all__ = [
    "CLAIM_FIELDS",
    "VERDICTS",
    "Claim",
    "Finding",
    "Verdict",
    "check",
    "check_ids",
    "claims",
    "ledger",
    "load_claims",
]

#: The three verdicts a check can return.
VERDICTS: tuple[str, ...] = ("holds", "fails", "depends")
#: Fields of a claim record in claims.yaml (all required, no others).
CLAIM_FIELDS: tuple[str, ...] = ("id", "author", "date", "message", "source", "claim")
#: Columns of :func:`ledger`, in order.
LEDGER_COLUMNS: tuple[str, ...] = (
    "id",
    "author",
    "claim",
    "verdict",
    "evidence",
    "numbers",
    "flips",
    "source",
)

_ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One claim of the thread: who made it, in which mail (or commit), and our paraphrase."""

    id: str
    author: str
    date: _dt.date
    message: str
    source: str
    claim: str
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Verdict:
    """A check's result: ``verdict`` (holds/fails/depends), a one-sentence ``evidence`` with the deciding
    numbers, those numbers in ``numbers``, and ``flips``: when the verdict would change."""

    id: str
    verdict: str
    evidence: str
    numbers: Mapping[str, float | int]
    flips: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValidationError("verdict", self.verdict, " | ".join(VERDICTS))
        if not self.evidence.strip():
            raise ValidationError("evidence", self.evidence, "a non-empty sentence")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-able)."""
        return {
            "id": self.id,
            "verdict": self.verdict,
            "evidence": self.evidence,
            "numbers": dict(self.numbers),
            "flips": self.flips,
            "params": {k: _plain(v) for k, v in self.params.items()},
        }


class Finding(NamedTuple):
    """What a check function returns; the registry adds the id and the parameters to make a Verdict."""

    verdict: str
    evidence: str
    numbers: dict[str, float | int]
    flips: str


def _plain(value: Any) -> Any:
    if isinstance(value, VmmProfile):
        return value.name
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


# --------------------------------------------------------------------------------------------------
# Loading claims.yaml
# --------------------------------------------------------------------------------------------------


def _claim_from(item: object, path: Path, line: int | None) -> Claim:
    if not isinstance(item, LineDict):
        raise DataError(f"a claim must be a mapping of {', '.join(CLAIM_FIELDS)}", path, line)
    line = item.line or line
    unknown = [k for k in item if k not in CLAIM_FIELDS]
    if unknown:
        raise DataError(
            f"unknown claim field {unknown[0]!r}; expected only {', '.join(CLAIM_FIELDS)}",
            path,
            item.line_of(unknown[0]),
        )
    missing = [k for k in CLAIM_FIELDS if k not in item]
    if missing:
        where = f" (claim {item['id']!r})" if isinstance(item.get("id"), str) else ""
        raise DataError(f"claim{where} lacks field {missing[0]!r}", path, line)
    values: dict[str, Any] = {}
    for key in CLAIM_FIELDS:
        value = item[key]
        if key == "date":
            if isinstance(value, str):
                try:
                    value = _dt.date.fromisoformat(value)
                except ValueError:
                    value = None
            if not isinstance(value, _dt.date) or isinstance(value, _dt.datetime):
                raise DataError(f"date {item[key]!r} is not a date (YYYY-MM-DD)", path, item.line_of(key))
        elif not isinstance(value, str) or not value.strip():
            raise DataError(f"field {key!r} = {value!r} must be a non-empty string", path, item.line_of(key))
        values[key] = value.strip() if isinstance(value, str) else value
    if not _ID_RE.match(values["id"]):
        raise DataError(
            f"claim id {values['id']!r} must be lower-case words joined by '-'", path, item.line_of("id")
        )
    return Claim(**values, line=line)


def load_claims(path: str | Path | None = None) -> list[Claim]:
    """Read and validate a claims file (default ``data/claims/claims.yaml``); errors name file and line."""
    p = Path(path) if path is not None else data_path("claims", "claims.yaml")
    data = load_yaml(p)
    if not isinstance(data, LineDict) or "claims" not in data:
        raise DataError("a claims file is a mapping with a 'claims' list", p, getattr(data, "line", None))
    extra = [k for k in data if k != "claims"]
    if extra:
        raise DataError(
            f"unknown top-level key {extra[0]!r}; expected only 'claims'", p, data.line_of(extra[0])
        )
    items = data["claims"]
    if not isinstance(items, LineList):
        raise DataError("'claims' must be a list of claim records", p, data.line_of("claims"))
    out: list[Claim] = []
    seen: dict[str, int | None] = {}
    for i, item in enumerate(items):
        c = _claim_from(item, p, items.item_lines[i] if i < len(items.item_lines) else None)
        if c.id in seen:
            raise DataError(f"duplicate claim id {c.id!r} (first on line {seen[c.id]})", p, c.line)
        seen[c.id] = c.line
        out.append(c)
    return out


@functools.lru_cache(maxsize=1)
def _default_claims() -> tuple[Claim, ...]:
    return tuple(load_claims())


def claims() -> list[Claim]:
    """Every claim of ``data/claims/claims.yaml``, in file order."""
    return list(_default_claims())


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------

#: A check: keyword-only parameters with defaults, returning a Finding.
CheckFn = Callable[..., Finding]


class _Checks:
    """The check registry: ``check("id", **params)`` runs one, ``@check.register("id")`` adds one."""

    def __init__(self) -> None:
        self._fns: dict[str, CheckFn] = {}

    def register(self, claim_id: str) -> Callable[[CheckFn], CheckFn]:
        """Decorator: ``fn(**params) -> Finding`` is the check of ``claim_id`` (keyword-only parameters)."""

        def deco(fn: CheckFn) -> CheckFn:
            if claim_id in self._fns:
                raise ValidationError("check id", claim_id, "an id not registered yet")
            self._fns[claim_id] = fn
            return fn

        return deco

    def ids(self) -> list[str]:
        """Registered ids (in registration order)."""
        return list(self._fns)

    def parameters(self, claim_id: str) -> dict[str, Any]:
        """The check's keyword parameters and their defaults."""
        fn = self._fn(claim_id)
        return {n: p.default for n, p in inspect.signature(fn).parameters.items()}

    def _fn(self, claim_id: str) -> CheckFn:
        known = {c.id: c for c in claims()}
        if claim_id not in known:
            raise ValidationError("claim id", claim_id, f"one of {', '.join(known)}")
        fn = self._fns.get(claim_id)
        if fn is None:
            c = known[claim_id]
            raise DataError(
                f"claim {claim_id!r} has no check in tdxlib.argument.claims",
                data_path("claims", "claims.yaml"),
                c.line,
            )
        return fn

    def __call__(self, claim_id: str, **params: Any) -> Verdict:
        """Run the check of ``claim_id`` with its defaults overridden by ``params``."""
        fn = self._fn(claim_id)
        allowed = self.parameters(claim_id)
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValidationError(
                f"parameters of check {claim_id!r}", unknown, f"names among: {', '.join(allowed)}"
            )
        # checks are deterministic: in a report build the kernels share each (check, parameters) result
        finding = shared("claims", claim_id, params, lambda: fn(**params))
        numbers = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in finding.numbers.items()}
        return Verdict(
            id=claim_id,
            verdict=finding.verdict,
            evidence=finding.evidence,
            numbers=numbers,
            flips=finding.flips,
            params={**allowed, **params},
        )


#: Run a check (``check("notify-works", quotes=200)``) or register one (``@check.register("id")``).
check = _Checks()


def check_ids() -> list[str]:
    """Ids that have a check."""
    return check.ids()


def ledger(ids: Iterable[str] | None = None, **params: Any) -> pd.DataFrame:
    """Run the checks of ``ids`` (default: every claim) and tabulate them in claims.yaml order.

    Columns: id, author, claim, verdict, evidence, numbers, flips, source. ``params`` go to every
    check that takes them (e.g. ``seed=3``); a parameter no selected check takes is an error.
    """
    all_claims = claims()
    by_id = {c.id: c for c in all_claims}
    if ids is None:
        chosen = all_claims
    else:
        wanted = [ids] if isinstance(ids, str) else list(ids)
        bad = [i for i in wanted if i not in by_id]
        if bad:
            raise ValidationError("claim id", bad[0], f"one of {', '.join(by_id)}")
        chosen = [c for c in all_claims if c.id in set(wanted)]
    accepted: set[str] = set()
    for c in chosen:
        accepted |= set(check.parameters(c.id))
    unused = sorted(set(params) - accepted)
    if unused:
        raise ValidationError(
            "ledger parameters", unused, f"names some selected check takes: {sorted(accepted)}"
        )
    rows = []
    for c in chosen:
        mine = {k: v for k, v in params.items() if k in check.parameters(c.id)}
        v = check(c.id, **mine)
        rows.append(
            {
                "id": c.id,
                "author": c.author,
                "claim": c.claim,
                "verdict": v.verdict,
                "evidence": v.evidence,
                "numbers": dict(v.numbers),
                "flips": v.flips,
                "source": c.source,
            }
        )
    return pd.DataFrame(rows, columns=list(LEDGER_COLUMNS))


# --------------------------------------------------------------------------------------------------
# Shared helpers of the checks
# --------------------------------------------------------------------------------------------------


def _names(vmm: str | VmmProfile | Sequence[str | VmmProfile]) -> list[str | VmmProfile]:
    if isinstance(vmm, (str, VmmProfile)):
        return [vmm]
    return list(vmm)


def _label(vmm: str | VmmProfile) -> str:
    return vmm.name if isinstance(vmm, VmmProfile) else str(vmm)


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f}%"


def _ms(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0f} ms"


def _open(
    strategy: NotifyStrategy,
    vmm: str | VmmProfile,
    *,
    cpus: int,
    rate_per_s: float,
    seed: int,
    frames: bool = False,
    **kw: Any,
) -> Result:
    """One open-workload run (requests keep arriving even when one hangs); ``frames`` when the check
    reads the events or quotes, else the metrics-only run (the same metrics, cheaper)."""
    return run(
        Scenario(
            cpus=cpus, strategy=strategy, vmm=vmm, workload="open", rate_per_s=rate_per_s, seed=seed, **kw
        ),
        frames=frames,
    )


def _notified(m: Metrics) -> int:
    """Injected notifications that reached the quote driver."""
    return m.notifications_injected - m.lost_notifications


def _notify_cpu(strategy: NotifyStrategy, vmm: str | VmmProfile, cpus: int) -> int:
    """The CPU the strategy's notify IRQ lands on at boot (a run without quotes)."""
    cpu = run(
        Scenario(cpus=cpus, strategy=strategy, vmm=vmm, quotes=0), frames=False
    ).metrics.notify_setup_cpu
    if cpu is None or cpu == 0:
        raise ValidationError("notify IRQ CPU", cpu, "a CPU other than the BSP, to take offline")
    return int(cpu)


# --------------------------------------------------------------------------------------------------
# The checks, one per claim id
# --------------------------------------------------------------------------------------------------


@check.register("notify-works")
def _notify_works(
    *,
    vmm: str | VmmProfile | Sequence[str | VmmProfile] = ("ghci-1.0", "random-vcpu"),
    quotes: int = 400,
    cpus: int = 8,
    rate_per_s: float = 5.0,
    seed: int = 0,
) -> Finding:
    """SystemVector on injecting VMMs: every completion must reach the handler."""
    numbers: dict[str, float | int] = {}
    parts, ok = [], True
    for v in _names(vmm):
        m = _open(SystemVector(), v, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes).metrics
        name = _label(v)
        notified = _notified(m)
        numbers |= {
            f"quotes[{name}]": m.quotes_issued,
            f"injected[{name}]": m.notifications_injected,
            f"lost[{name}]": m.lost_notifications,
            f"notified[{name}]": notified,
        }
        numbers["vectors_total"] = m.vectors_total
        ok = ok and notified == m.quotes_issued and m.lost_notifications == 0
        parts.append(f"{name} {notified}/{m.quotes_issued} ({m.lost_notifications} lost)")
    tail = (
        "so no injection target can miss it"
        if ok
        else "yet a completion the VMM does not signal reaches no handler"
    )
    evidence = (
        f"System vector on {cpus} vCPUs, completions notified: {'; '.join(parts)}; the handler is on every "
        f"CPU ({numbers['vectors_total']} vectors, 1 per CPU), {tail}."
    )
    flips = (
        "Fails on a VMM that does not inject every completion (never-injects and kvm-6.16 notify none; GHCI "
        "1.0 only says 'can'): see may-inject-needs-polling; and there is nothing to notify when the quote "
        "service never answers (timeout-required)."
    )
    return Finding("holds" if ok else "fails", evidence, numbers, flips)


@check.register("any-cpu-needs-system-vector")
def _any_cpu(
    *,
    vmm: str | VmmProfile = "random-vcpu",
    cpus: int = 8,
    quotes: int = 1000,
    call_from_target: bool = False,
    rate_per_s: float = 5.0,
    seed: int = 0,
) -> Finding:
    """A one-CPU vector on a VMM injecting anywhere loses ~(n-1)/n; the system vector loses none."""
    dyn = DynamicIrq(apic_targeting=False, call_from_target=call_from_target)
    md = _open(dyn, vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes).metrics
    ms = _open(SystemVector(), vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes).metrics
    n, lost = md.notifications_injected, md.lost_notifications
    p = (cpus - 1) / cpus
    lo, hi = binomial_interval(n, p)
    z = binomial_z(lost, n, p)
    frac = lost / n if n else 0.0
    numbers: dict[str, float | int] = {
        "injected_dynamic": n,
        "lost_dynamic": lost,
        "lost_fraction_dynamic": frac,
        "expected_fraction": p,
        "z": z,
        "within_4_sigma": int(lo <= lost <= hi),
        "lost_system_vector": ms.lost_notifications,
        "injected_system_vector": ms.notifications_injected,
        "vectors_total_dynamic": md.vectors_total,
        "vectors_total_system_vector": ms.vectors_total,
    }
    if n == 0:
        verdict = "depends"
        evidence = f"{_label(vmm)} injected no notification at all, so no vector design can be judged here."
    else:
        verdict = "holds" if lost > 0 and ms.lost_notifications == 0 else "fails" if lost == 0 else "depends"
        evidence = (
            f"On {_label(vmm)} with {cpus} vCPUs a one-CPU vector lost {lost} of {n} notifications "
            f"({_pct(frac)}; binomial expectation (n-1)/n = {_pct(p)}, z = {z:+.2f}), the system vector lost "
            f"{ms.lost_notifications} of {ms.notifications_injected} — with {ms.vectors_total} vectors "
            f"instead of {md.vectors_total}."
        )
    flips = (
        "Flips when the VMM targets a known vCPU: with the caller rule (ghci-1.5-caller, qemu-10.1) and the "
        "call made from the IRQ's CPU (call_from_target=True), or an APIC-ID argument, the one-CPU vector "
        "loses nothing (apic-id-enables-dynamic, caller-vcpu-rule-suffices)."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("apic-id-enables-dynamic")
def _apic_id(
    *,
    vmm: str | VmmProfile = "apic-id-arg",
    baseline_vmm: str | VmmProfile = "ghci-1.0",
    cpus: int = 8,
    quotes: int = 400,
    rate_per_s: float = 5.0,
    seed: int = 0,
) -> Finding:
    """DynamicIrq(apic_targeting=True) on a VMM honouring the APIC-ID argument loses nothing."""
    strat = DynamicIrq(apic_targeting=True)
    m = _open(strat, vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes).metrics
    mb = _open(strat, baseline_vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes).metrics
    delta = spec_delta(strat, cpus=cpus)
    base_frac = mb.lost_notifications / mb.notifications_injected if mb.notifications_injected else 0.0
    numbers: dict[str, float | int] = {
        "quotes": m.quotes_issued,
        "injected": m.notifications_injected,
        "lost": m.lost_notifications,
        "vectors_total": m.vectors_total,
        "new_arguments": delta.n_new_arguments,
        "new_leaves": delta.n_new_leaves,
        "lost_fraction_baseline": base_frac,
    }
    ok = m.lost_notifications == 0 and m.notifications_injected == m.quotes_issued > 0
    evidence = (
        f"With the APIC ID in SetupEventNotifyInterrupt ({_label(vmm)}) a pinned one-CPU vector got "
        f"{_notified(m)}/{m.quotes_issued} notifications ({m.lost_notifications} lost) with "
        f"{m.vectors_total} vector in total; it needs {delta.n_new_arguments} new argument "
        f"({', '.join(delta.new_arguments) or 'none'}) and {delta.n_new_leaves} new leaves. On the spec as "
        f"written ({_label(baseline_vmm)}) the same guest lost {_pct(base_frac)}."
    )
    flips = (
        "Depends on the spec adding the APIC-ID argument, which it never did (the 2022 outcome was the "
        "caller rule): a VMM ignoring it loses ~(n-1)/n of the notifications; taking the target CPU offline "
        "needs re-registration (hotplug-needs-reregistration)."
    )
    return Finding("holds" if ok else "fails", evidence, numbers, flips)


@check.register("caller-vcpu-rule-suffices")
def _caller_rule(
    *,
    vmm: str | VmmProfile | Sequence[str | VmmProfile] = ("ghci-1.5-caller", "qemu-10.1"),
    cpus: int = 8,
    quotes: int = 400,
    rate_per_s: float = 5.0,
    hotplug: bool = False,
    reregister: bool = True,
    offline_at_s: float = 10.0,
    seed: int = 0,
) -> Finding:
    """CallerVcpu: no loss, one vector, no new argument; hotplug without re-registration breaks it."""
    strat = CallerVcpu(reregister=reregister)
    delta = spec_delta(strat, cpus=cpus)
    numbers: dict[str, float | int] = {
        "new_arguments": delta.n_new_arguments,
        "new_leaves": delta.n_new_leaves,
    }
    ok = delta.n_new_arguments == 0 and delta.n_new_leaves == 0
    parts = []
    vmms = _names(vmm)
    for v in vmms:
        kw: dict[str, Any] = {}
        if hotplug:
            kw["hotplug"] = ((offline_at_s, _notify_cpu(strat, v, cpus), "offline"),)
        m = _open(strat, v, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes, **kw).metrics
        name = _label(v)
        numbers |= {
            f"injected[{name}]": m.notifications_injected,
            f"lost[{name}]": m.lost_notifications,
            f"vectors_total[{name}]": m.vectors_total,
        }
        ok = ok and m.lost_notifications == 0 and m.notifications_injected == m.quotes_issued > 0
        ok = ok and m.vectors_total == 1
        parts.append(f"{name} {_notified(m)}/{m.quotes_issued} notified, {m.vectors_total} vector")
    # what hotplug without re-registration would do (first VMM)
    bad = CallerVcpu(reregister=False)
    hp = ((offline_at_s, _notify_cpu(bad, vmms[0], cpus), "offline"),)
    r = _open(
        bad, vmms[0], cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes, hotplug=hp, frames=True
    )
    later = count_events(r.events, "inject", after=offline_at_s)
    numbers |= {"lost_hotplug_no_reregister": r.metrics.lost_notifications, "injected_after_offline": later}
    evidence = (
        f"One IRQ on one CPU, SetupEventNotifyInterrupt called from that CPU with no APIC argument"
        f"{' (target CPU offlined at ' + format(offline_at_s, 'g') + ' s)' if hotplug else ''}: "
        f"{'; '.join(parts)}; {delta.n_new_arguments} new arguments, {delta.n_new_leaves} new leaves."
    )
    flips = (
        f"Flips under CPU hotplug without re-registration: offlining the IRQ's CPU at {offline_at_s:g} s "
        f"lost {r.metrics.lost_notifications} of the {later} notifications injected after it; it also needs "
        "the VMM to record the caller at call time (QEMU does) — a VMM injecting elsewhere loses ~(n-1)/n."
    )
    return Finding("holds" if ok else "fails", evidence, numbers, flips)


@check.register("hotplug-needs-reregistration")
def _hotplug(
    *,
    cpus: int = 8,
    rate_per_s: float = 10.0,
    durations: tuple[float, float] = (30.0, 60.0),
    offline_at_s: float = 5.0,
    reregister_delay_ms: float = 500.0,
    seed: int = 1,
) -> Finding:
    """Targeted designs: the notify IRQ migrates on offline; loss for a window with, forever without."""
    designs = (("dynamic-apic", "apic-id-arg"), ("caller-vcpu", "ghci-1.5-caller"))
    d_short, d_long = sorted(durations)
    numbers: dict[str, float | int] = {}
    old, new, broken = nobalancing_migration(cpus)
    numbers |= {"nobalancing_old_cpu": old, "nobalancing_new_cpu": new}
    needs = bounded = moved = True
    summary = []
    for name, vmm in designs:
        base = make_strategy(name, reregister_delay_ms=reregister_delay_ms)
        assert isinstance(base, DynamicIrq)
        target = _notify_cpu(base, vmm, cpus)
        hp = ((offline_at_s, target, "offline"),)
        with_r = _open(
            base, vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, duration_s=d_long, hotplug=hp, frames=True
        )
        w = with_r.metrics.loss_window_s
        in_window = count_events(with_r.events, "inject", offline_at_s, offline_at_s + w)
        lost_no: list[int] = []
        after = 0  # notifications injected after the offline, counted in the long run's events
        for d, frames in ((d_short, False), (d_long, True)):
            r = _open(
                dataclasses.replace(base, reregister=False),
                vmm,
                cpus=cpus,
                rate_per_s=rate_per_s,
                seed=seed,
                duration_s=d,
                hotplug=hp,
                frames=frames,
            )
            lost_no.append(r.metrics.lost_notifications)
            if frames:
                after = count_events(r.events, "inject", after=offline_at_s)
        m = with_r.metrics
        numbers |= {
            f"target_cpu[{name}]": target,
            f"notify_cpu_after[{name}]": -1 if m.notify_cpu is None else m.notify_cpu,
            f"migrations[{name}]": m.notify_migrations,
            f"loss_window_s[{name}]": w,
            f"injected_in_window[{name}]": in_window,
            f"lost_reregister[{name}]": m.lost_notifications,
            f"lost_no_reregister_{d_short:g}s[{name}]": lost_no[0],
            f"lost_no_reregister_{d_long:g}s[{name}]": lost_no[1],
            f"injected_after_offline_{d_long:g}s[{name}]": after,
        }
        moved = moved and m.notify_migrations >= 1
        bounded = bounded and w > 0 and m.lost_notifications <= in_window
        needs = needs and 0 < lost_no[0] < lost_no[1] and lost_no[1] == after
        summary.append(
            f"{name}: IRQ CPU {target} -> {m.notify_cpu}, window {w:.2f} s costing {m.lost_notifications} "
            f"(of {in_window} injected in it); without: {lost_no[0]} lost by {d_short:g} s, {lost_no[1]} by "
            f"{d_long:g} s (all {after} after the offline)"
        )
    verdict = "holds" if needs and bounded and moved else "fails" if not needs else "depends"
    evidence = (
        f"Offlining the notify IRQ's CPU at {offline_at_s:g} s migrates it despite IRQF_NOBALANCING "
        f"(CPU {old} -> {new}, affinity broken: {broken}). " + "; ".join(summary) + "."
    )
    flips = (
        f"The window is the time to re-register (ASSUMPTION: {reregister_delay_ms:g} ms here, a parameter) "
        "and costs every completion in it; nothing migrates with a system vector or when the target CPU "
        "stays online (the BSP cannot go offline), and a VMM that holds interrupts for an offline vCPU hides "
        "the loss only if the IRQ happens to return to the same CPU and vector."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("may-inject-needs-polling")
def _may_inject(
    *,
    vmm: str | VmmProfile = "never-injects",
    cpus: int = 8,
    quotes: int = 20,
    rate_per_s: float = 0.2,
    seed: int = 0,
) -> Finding:
    """Interrupt-only guest hangs on a VMM that does not inject; a polling guest completes."""
    mi = _open(SystemVector(), vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes).metrics
    mp = _open(Polling(), vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes).metrics
    mf = _open(
        SystemVector(fallback=Polling()), vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes
    )
    numbers: dict[str, float | int] = {
        "quotes": quotes,
        "interrupt_completed": mi.completed,
        "interrupt_hung": mi.hung,
        "not_injected": mi.not_injected,
        "polling_completed": mp.completed,
        "polling_wakeups_per_quote": mp.poll_wakeups / max(1, mp.completed),
        "polling_p50_ms": mp.latency_ms.get("p50", math.nan),
        "fallback_completed": mf.metrics.completed,
    }
    if mi.completed == quotes:
        verdict = "fails"
    elif mi.hung > 0 and mp.completed == quotes:
        verdict = "holds"
    else:
        verdict = "depends"
    evidence = (
        f"On {_label(vmm)} the interrupt-only guest (system vector, no timeout) completed {mi.completed} of "
        f"{quotes} quotes, {mi.hung} hang for good ({mi.notifications_injected} notifications injected); "
        f"the 1 s poller completed {mp.completed}/{quotes} (p50 {_ms(numbers['polling_p50_ms'])}, "
        f"{numbers['polling_wakeups_per_quote']:.1f} wake-ups per quote), and an interrupt guest with a "
        f"polling fallback {mf.metrics.completed}/{quotes}."
    )
    flips = (
        "Fails on a VMM that must inject and does (ghci-1.5-caller, qemu-10.1): the interrupt-only guest "
        "then completes every quote. The kvm-6.16 profile never injects either, which is why merged Linux "
        "polls."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("timeout-required")
def _timeout(
    *,
    vmm: str | VmmProfile = "qgs-never-answers",
    strategy: str = "system-vector",
    cpus: int = 8,
    quotes: int = 3,
    timeout_s: float = 30.0,
    vmm_timeout_ms: float = 30000.0,
    seed: int = 0,
) -> Finding:
    """A quote service that never answers: no timeout hangs, a timeout returns."""
    kw: dict[str, Any] = {"cpus": cpus, "rate_per_s": 1.0, "seed": seed, "quotes": quotes}
    none = _open(make_strategy(strategy), vmm, **kw).metrics
    rt = _open(make_strategy(strategy, timeout_s=timeout_s), vmm, frames=True, **kw)
    rp = _open(Polling(), vmm, frames=True, **kw)
    profile = vmm if isinstance(vmm, VmmProfile) else load_profile(vmm)
    bounded = dataclasses.replace(profile, service_timeout_ms=vmm_timeout_ms)
    mb = _open(make_strategy(strategy), bounded, **kw).metrics
    returned = rt.quotes[rt.quotes["outcome"] != "hung"]
    polled = rp.quotes.iloc[0] if len(rp.quotes) else None
    numbers: dict[str, float | int] = {
        "quotes": quotes,
        "hung_without_timeout": none.hung,
        "returned_with_timeout": len(returned),
        "timed_out_with_timeout": rt.metrics.timed_out,
        "max_latency_with_timeout_ms": float(returned["latency_ms"].max()) if len(returned) else math.nan,
        "polling_first_latency_ms": float(polled["latency_ms"]) if polled is not None else math.nan,
        "polling_busy": rp.metrics.busy,
        "hung_with_vmm_timeout": mb.hung,
        "failed_with_vmm_timeout": mb.failed,
    }
    if none.hung == 0:
        verdict = "fails"
    elif len(returned) == quotes:
        verdict = "holds"
    else:
        verdict = "depends"
    if polled is not None and polled["outcome"] == "timed_out":
        poller = (
            f" The merged poller gives up after {numbers['polling_first_latency_ms'] / 1000.0:.1f} s "
            f"({polled['ret']}) but leaves the shared buffer in flight, so {rp.metrics.busy} later requests "
            "get -EBUSY."
        )
    else:
        poller = f" The merged poller completed {rp.metrics.completed} of {quotes}."
    evidence = (
        f"With {_label(vmm)}, {none.hung} of {quotes} interrupt-driven requests without a timeout hang for "
        f"good; with timeout_s = {timeout_s:g} {len(returned)} return ({rt.metrics.timed_out} -ETIMEDOUT, "
        f"at most {numbers['max_latency_with_timeout_ms'] / 1000.0:.1f} s).{poller}"
    )
    flips = (
        "Fails when the service always answers (e.g. qemu-10.1 with a working QGS), and the guest timeout "
        f"is redundant when the VMM bounds the service itself: with a {vmm_timeout_ms / 1000.0:g} s VMM "
        f"timeout (as QEMU 10.1 has) {mb.failed} untimed requests end failed with GET_QUOTE_ERROR and "
        f"{mb.hung} hang."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("system-vector-wasteful")
def _wasteful(*, cpus: Sequence[int] = (8, 64, 512, 4096, 8192)) -> Finding:
    """Vector budget of the system vector vs one dynamic vector as the machine grows."""
    numbers: dict[str, float | int] = {}
    onsets = []
    for n in cpus:
        bs, bd = budget("system-vector", n), budget("dynamic", n)
        ls, ld = offline_limit("system-vector", n), offline_limit("dynamic", n)
        at = ls + 1
        rs, rd = budget("system-vector", n, at).offline_refused, budget("dynamic", n, at).offline_refused
        onsets.append(at / bs.device_capacity)
        numbers |= {
            f"vectors_total_system_vector@{n}": bs.notify_vectors_total,
            f"vectors_total_dynamic@{n}": bd.notify_vectors_total,
            f"device_capacity_system_vector@{n}": bs.device_capacity,
            f"device_capacity_dynamic@{n}": bd.device_capacity,
            f"offline_limit_system_vector@{n}": ls,
            f"offline_limit_dynamic@{n}": ld,
            f"offline_refused_system_vector@{n}": rs,
            f"offline_refused_dynamic@{n}": rd,
        }
    big, small = max(cpus), min(cpus)
    sv_dv = budget("system-vector", small).device_vectors_per_cpu
    dyn_dv = budget("dynamic", small).device_vectors_per_cpu
    per_cpu = (dyn_dv - sv_dv) / dyn_dv
    numbers |= {
        "device_vectors_per_cpu_system_vector": sv_dv,
        "device_vectors_per_cpu_dynamic": dyn_dv,
        "per_cpu_fraction": per_cpu,
        "onset_load_fraction_min": min(onsets),
    }
    if numbers[f"vectors_total_system_vector@{big}"] <= numbers[f"vectors_total_dynamic@{big}"]:
        verdict = "fails"
    elif per_cpu >= 0.05 or min(onsets) < 0.5:
        verdict = "holds"
    else:
        verdict = "depends"
    tot_sv, tot_dyn = numbers[f"vectors_total_system_vector@{big}"], numbers[f"vectors_total_dynamic@{big}"]
    lim_sv, lim_dyn = (
        numbers[f"offline_limit_system_vector@{small}"],
        numbers[f"offline_limit_dynamic@{small}"],
    )
    refused = numbers[f"offline_refused_system_vector@{small}"]
    evidence = (
        f"The system vector takes {tot_sv} vectors on {big} CPUs (one per CPU) against {tot_dyn} for a "
        f"dynamic IRQ, but per CPU it is 1 of {dyn_dv} device vectors ({_pct(per_cpu)}, {sv_dv} left). It "
        f"only shows near exhaustion: at {small} CPUs offlining is refused beyond {lim_sv} device IRQs "
        f"({refused} CPUs refused at one more) where the dynamic design still allows it up to {lim_dyn}; the "
        f"onset is at {_pct(min(onsets))} of the vector capacity or more."
    )
    flips = (
        "Holds outright for guests run near vector exhaustion (device load within ~1 IRQ per CPU of the "
        "offline limit: CPU offline refused, request_irq() -ENOSPC one IRQ per CPU earlier); a non-issue for "
        "TDs with light device load. The v8 layout also costs the vector on kernels not booted as TDs "
        "(config-gated)."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("config-gated")
def _config_gated(*, base: str = "linux-5.19", patched: str = "linux-5.19-tdx-v8") -> Finding:
    """Does CONFIG_INTEL_TDX_GUEST gate the cost? Compare device vectors per CPU across configs."""
    numbers: dict[str, float | int] = {}
    combos: list[tuple[str, str, dict[str, bool]]] = [
        (base, "off", {"INTEL_TDX_GUEST": False}),
        (base, "on", {"INTEL_TDX_GUEST": True}),
        (patched, "off", {"INTEL_TDX_GUEST": False}),
        (patched, "on", {"INTEL_TDX_GUEST": True}),
    ]
    if "TDX_GUEST_DETECTED" in layout_switches(patched):
        combos = [
            *combos[:2],
            (patched, "off", {"INTEL_TDX_GUEST": False, "TDX_GUEST_DETECTED": False}),
            (patched, "on-bare-metal", {"INTEL_TDX_GUEST": True, "TDX_GUEST_DETECTED": False}),
            (patched, "on", {"INTEL_TDX_GUEST": True, "TDX_GUEST_DETECTED": True}),
        ]
    for name, tag, cfg in combos:
        lay = load_layout(name, **cfg)
        numbers[f"device_vectors_per_cpu[{name},{tag}]"] = lay.device_vectors_per_cpu(1)
        numbers[f"FIRST_SYSTEM_VECTOR[{name},{tag}]"] = lay.FIRST_SYSTEM_VECTOR
        numbers[f"LOCAL_TIMER_VECTOR[{name},{tag}]"] = lay.vector("LOCAL_TIMER_VECTOR")
    distro = load_layout(patched)
    numbers["distro_default_INTEL_TDX_GUEST"] = int(bool(distro.config.get("INTEL_TDX_GUEST", False)))
    b_off = numbers[f"device_vectors_per_cpu[{base},off]"]
    p_off = numbers[f"device_vectors_per_cpu[{patched},off]"]
    b_on = numbers[f"device_vectors_per_cpu[{base},on]"]
    p_on = numbers[f"device_vectors_per_cpu[{patched},on]"]
    if p_off < b_off:
        verdict = "fails"
    elif p_on < b_on and numbers["distro_default_INTEL_TDX_GUEST"]:
        verdict = "depends"
    else:
        verdict = "holds"
    evidence = (
        f"{patched} puts LOCAL_TIMER_VECTOR at {numbers[f'LOCAL_TIMER_VECTOR[{patched},off]']:#x} whatever "
        f"the config (FIRST_SYSTEM_VECTOR {numbers[f'FIRST_SYSTEM_VECTOR[{patched},off]']:#x} vs "
        f"{numbers[f'FIRST_SYSTEM_VECTOR[{base},off]']:#x} in {base}): {p_off} device vectors per CPU with "
        f"CONFIG_INTEL_TDX_GUEST off and {p_on} with it on, against {b_off}/{b_on} — and the default "
        f"(distribution) config builds the option in "
        f"({'yes' if numbers['distro_default_INTEL_TDX_GUEST'] else 'no'})."
    )
    flips = (
        "Would hold for kernels without the option only if the timer vector had moved under the same #if "
        "(the patch moved it unconditionally); even then every distribution kernel, built with the option, "
        "pays one vector per CPU, TD or not."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("removal-fan-out")
def _fan_out(
    *,
    drivers: Sequence[int] = (1, 2, 4, 8),
    vmm: str | VmmProfile = "ghci-1.0",
    cpus: int = 8,
    quotes: int = 50,
    rate_per_s: float = 5.0,
    seed: int = 0,
) -> Finding:
    """k registered drivers on the shared vector: callbacks per notification, list vs v8's one pointer."""
    numbers: dict[str, float | int] = {}
    linear = single = True
    displaced_all = False
    for k in drivers:
        ml = _open(
            SystemVector(drivers=k), vmm, cpus=cpus, rate_per_s=rate_per_s, seed=seed, quotes=quotes
        ).metrics
        mp = _open(
            SystemVector(drivers=k, callback_list=False),
            vmm,
            cpus=cpus,
            rate_per_s=rate_per_s,
            seed=seed,
            quotes=quotes,
        ).metrics
        per_list = ml.fanout_callbacks / max(1, ml.interrupts_handled)
        per_ptr = mp.fanout_callbacks / max(1, mp.interrupts_handled)
        numbers |= {
            f"callbacks_per_notification_list@{k}": per_list,
            f"callbacks_per_notification_v8@{k}": per_ptr,
            f"quote_notified_list@{k}": _notified(ml),
            f"quote_notified_v8@{k}": _notified(mp),
            f"displaced_v8@{k}": mp.displaced_callbacks,
        }
        linear = linear and per_list == k and _notified(ml) == quotes
        single = single and per_ptr == 1
        if k >= 2 and _notified(mp) == 0:
            displaced_all = True
    ks = list(drivers)
    shared = any(k >= 2 for k in ks)  # with one driver a list and v8's single pointer do the same
    if linear and (not single or not shared):
        verdict = "holds"
    elif linear:
        verdict = "depends"
    else:
        verdict = "fails"
    if not shared:
        v8_tail = "the same with a single driver"
    elif displaced_all:
        v8_tail = (
            f"with k >= 2 the last driver to register displaces the quote driver, which then gets 0 of "
            f"{quotes} notifications"
        )
    else:
        v8_tail = "with k >= 2 the quote driver still gets them"
    evidence = (
        f"With a callback list every notification runs k callbacks "
        f"({', '.join(format(numbers[f'callbacks_per_notification_list@{k}'], 'g') for k in ks)} for k = "
        f"{', '.join(map(str, ks))}: linear), so every driver sees it; v8 kept one handler pointer: "
        f"{', '.join(format(numbers[f'callbacks_per_notification_v8@{k}'], 'g') for k in ks)} callback per "
        f"notification — {v8_tail}."
    )
    flips = (
        "Holds for a design with a callback list (the 2023 series kept a spinlocked list); for the v8 code "
        "it holds only with a single registered driver — the attestation driver, v8's only user."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("getquote-carries-vector")
def _quote_carries(
    *,
    with_apic: bool = True,
    cpus: int = 8,
    rate_per_s: float = 10.0,
    duration_s: float = 60.0,
    hotplug_every_s: float = 5.0,
    reregister_delay_ms: float = 1.0,
    seed: int = 1,
) -> Finding:
    """GetQuote names the vector: spec delta, and losses under hotplug against registered designs."""
    qcv = QuoteCarriesVector(with_apic=with_apic)
    delta = spec_delta(qcv, cpus=cpus)
    kw: dict[str, Any] = {
        "cpus": cpus,
        "rate_per_s": rate_per_s,
        "seed": seed,
        "duration_s": duration_s,
        "hotplug_every_s": hotplug_every_s,
        "hotplug_cpus": "notify",
    }
    mq = _open(qcv, "getquote-carries-vector", **kw).metrics
    mr = _open(CallerVcpu(reregister_delay_ms=reregister_delay_ms), "ghci-1.5-caller", **kw).metrics
    mn = _open(CallerVcpu(reregister=False), "ghci-1.5-caller", **kw).metrics
    numbers: dict[str, float | int] = {
        "new_leaves": delta.n_new_leaves,
        "new_arguments": delta.n_new_arguments,
        "setup_calls": mq.setup_calls,
        "migrations": mq.notify_migrations,
        "exposed_requests": mq.exposed_requests,
        "injected": mq.notifications_injected,
        "lost": mq.lost_notifications,
        "lost_caller_reregister": mr.lost_notifications,
        "loss_window_s_caller_reregister": mr.loss_window_s,
        "lost_caller_no_reregister": mn.lost_notifications,
        "loss_window_s_caller_no_reregister": mn.loss_window_s,
    }
    if delta.n_new_leaves > 0:
        verdict = "fails"
    elif mq.lost_notifications <= mq.exposed_requests:
        verdict = "holds"
    else:
        verdict = "depends"
    evidence = (
        f"GetQuote carrying the vector{' and APIC ID' if with_apic else ''} needs {delta.n_new_leaves} new "
        f"TDVMCALLs and {mq.setup_calls} SetupEventNotifyInterrupt calls, but {delta.n_new_arguments} new "
        f"GetQuote arguments ({', '.join(delta.new_arguments)}). Under {mq.notify_migrations} migrations in "
        f"{duration_s:g} s it lost {mq.lost_notifications} of {mq.notifications_injected} notifications, "
        f"{mq.exposed_requests} requests being in flight when the IRQ moved; the caller rule lost "
        f"{mr.lost_notifications} re-registering after {reregister_delay_ms:g} ms and "
        f"{mn.lost_notifications} without re-registering."
    )
    flips = (
        "'No new TDVMCALL' is not 'no spec change': GetQuote gains 1-2 arguments; with the vector alone "
        "(with_apic=False) the VMM must inject into the GetQuote caller and the request come from the IRQ's "
        "CPU, else ~(n-1)/n are lost; it serves attestation only (no generic events such as device removal), "
        "and a design that re-registers promptly loses fewer in-flight requests."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("early-init-lands-on-cpu0")
def _early_init(
    *, trials: int = 40, min_cpus: int = 2, max_cpus: int = 64, sim_cpus: int = 8, seed: int = 0
) -> Finding:
    """An IRQ requested before SMP bring-up can only land on CPU 0; after it, on the best CPU."""
    pt = placement_trials(trials, min_cpus=min_cpus, max_cpus=max_cpus, seed=seed)
    early_sim = run(
        Scenario(cpus=sim_cpus, strategy=CallerVcpu(early=True), vmm="ghci-1.5-caller", quotes=0),
        frames=False,
    ).metrics.notify_setup_cpu
    late_sim = run(
        Scenario(cpus=sim_cpus, strategy=CallerVcpu(), vmm="ghci-1.5-caller", quotes=0), frames=False
    ).metrics
    numbers: dict[str, float | int] = {
        "trials": pt.trials,
        "early_on_cpu0": sum(c == 0 for c in pt.early_cpus),
        "late_on_best_cpu": sum(c == b for c, b in zip(pt.late_cpus, pt.late_best, strict=True)),
        "late_on_cpu0": sum(c == 0 for c in pt.late_cpus),
        "max_early_load": max(pt.early_load),
        "sim_early_cpu": -1 if early_sim is None else early_sim,
        "sim_late_cpu": -1 if late_sim.notify_setup_cpu is None else late_sim.notify_setup_cpu,
    }
    verdict = "holds" if numbers["early_on_cpu0"] == pt.trials else "fails"
    evidence = (
        f"In {pt.trials} random guests ({min(pt.ncpus)}-{max(pt.ncpus)} vCPUs, up to {max(pt.early_load)} "
        f"device IRQs already on CPU 0) the IRQ requested with only CPU 0 online landed on CPU 0 "
        f"{numbers['early_on_cpu0']}/{pt.trials} times; requested after bring-up it landed on the CPU with "
        f"the most free vectors {numbers['late_on_best_cpu']}/{pt.trials} times (on CPU 0: "
        f"{numbers['late_on_cpu0']}). Simulated guest: CPU {numbers['sim_early_cpu']} early, CPU "
        f"{numbers['sim_late_cpu']} late."
    )
    flips = (
        "Only the allocation time matters: a late initcall (after SMP bring-up) or an explicit mask moves "
        "it. Landing on CPU 0 is not itself a failure — the caller rule works from CPU 0, and the BSP "
        "cannot go offline (x86, 6.3+), so it never needs re-registration — but it is not the choice the "
        "code implies."
    )
    return Finding(verdict, evidence, numbers, flips)


@check.register("polling-sufficient")
def _polling(
    *,
    vmm: str | VmmProfile = "qemu-10.1",
    rate_per_s: float = 1.0 / 60.0,
    quotes: int = 100,
    interval_ms: int = 1000,
    timeout_s: float = 30.0,
    hz: int = 250,
    cpus: int = 8,
    seed: int = 0,
) -> Finding:
    """Polling(interval, timeout) against interrupt delivery: added latency, wake-ups, capacity."""
    poll = Polling(interval_ms=interval_ms, timeout_s=timeout_s)
    kw: dict[str, Any] = {"cpus": cpus, "seed": seed, "quotes": quotes, "hz": hz}
    mp = _open(poll, vmm, rate_per_s=rate_per_s, **kw).metrics
    mi = _open(SystemVector(), vmm, rate_per_s=rate_per_s, **kw).metrics
    cap_p = run(Scenario(strategy=poll, vmm=vmm, **{**kw, "quotes": 50}), frames=False).metrics.quotes_per_s
    cap_i = run(
        Scenario(strategy=SystemVector(), vmm=vmm, **{**kw, "quotes": 50}), frames=False
    ).metrics.quotes_per_s
    sleep = max_sleep_ms(interval_ms, hz)
    lp, li = mp.latency_ms, mi.latency_ms
    numbers: dict[str, float | int] = {
        "completed_polling": mp.completed,
        "completed_interrupt": mi.completed,
        "min_polling_ms": lp["min"],
        "p50_polling_ms": lp["p50"],
        "p99_polling_ms": lp["p99"],
        "p50_interrupt_ms": li["p50"],
        "p99_interrupt_ms": li["p99"],
        "added_p50_ms": lp["p50"] - li["p50"],
        "added_p99_ms": lp["p99"] - li["p99"],
        "one_sleep_ms": sleep,
        "wakeups_per_quote_polling": mp.poll_wakeups / max(1, mp.completed),
        "wakeups_per_quote_interrupt": mi.interrupts_handled / max(1, mi.completed),
        "capacity_polling_per_s": cap_p,
        "capacity_interrupt_per_s": cap_i,
        "rate_per_s": rate_per_s,
    }
    if mp.completed < quotes or rate_per_s >= cap_p:
        verdict = "fails"
    elif numbers["added_p99_ms"] > sleep:
        verdict = "depends"
    else:
        verdict = "holds"
    where = "within" if numbers["added_p99_ms"] <= sleep else "beyond"
    evidence = (
        f"At {rate_per_s * 60:g} quotes a minute on {_label(vmm)} the {interval_ms} ms poller completed "
        f"{mp.completed}/{quotes} with p50 {_ms(lp['p50'])} / p99 {_ms(lp['p99'])} against "
        f"{_ms(li['p50'])} / {_ms(li['p99'])} by interrupt: +{_ms(numbers['added_p50_ms'])} at the median, +"
        f"{_ms(numbers['added_p99_ms'])} at p99 ({where} one real sleep, {_ms(sleep)} at HZ={hz}); "
        f"{numbers['wakeups_per_quote_polling']:.2f} wake-ups per quote against "
        f"{numbers['wakeups_per_quote_interrupt']:.2f} interrupts; the serialized poller's capacity is "
        f"{cap_p:.2f} quotes/s (interrupts {cap_i:.2f})."
    )
    flips = (
        f"Fails when quotes approach the poller's capacity (~{cap_p:.2f}/s: beyond it the queue behind "
        "quote_lock grows without bound) and is costly when latency matters — a fast quote service still "
        "waits a full sleep; shorter intervals cut the latency but cost wake-ups ≈ service time / interval."
    )
    return Finding(verdict, evidence, numbers, flips)
