"""Verdicts by era: each claim checked on a set of guest kernel profiles, and what its verdict depends on.

A check that reads kernel facts (``@check.register(id, reads=...)``, with a ``kernel`` parameter) is run
on every kernel of the set; a kernel that refuses what the claim is about (a TD that cannot take a CPU
offline, :class:`~tdxlib.errors.CpuOfflineUnsupported`) makes the claim ``moot`` there, with the kernel's
reason. A check that reads no kernel fact gives the same verdict on every kernel. The overall verdict
is the common one, or ``depends`` with the condition read off the facts that split the kernels:
"moot where a TD cannot offline CPUs (linux-5.19-tdx-v8, linux-6.6); holds from 6.11 with a MADT
wakeup mailbox v1 (linux-6.12, linux-7.1)".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tdxlib.argument.claims.registry import Verdict, check
from tdxlib.argument.verdicts import ERA_VERDICTS
from tdxlib.errors import CpuOfflineUnsupported, ValidationError
from tdxlib.kernel.profile import KernelProfile, kernel_names, load_kernel, story_kernels

__all__ = ["EraVerdict", "Eras", "claim_eras", "era_kernels", "fact_phrase"]


@dataclass(frozen=True)
class EraVerdict:
    """A claim on one kernel: the verdict (holds/fails/depends/moot), its evidence and numbers."""

    kernel: str
    verdict: str
    evidence: str
    numbers: Mapping[str, float | int] = field(default_factory=dict)
    flips: str = ""
    #: The part of the argument this kernel makes moot (the claim itself is not), e.g. a hotplug caveat.
    moot: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in ERA_VERDICTS:
            raise ValidationError("era verdict", self.verdict, " | ".join(ERA_VERDICTS))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-able)."""
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "evidence": self.evidence,
            "numbers": dict(self.numbers),
        }
        if self.moot:
            out["moot"] = self.moot
        return out


@dataclass(frozen=True)
class Eras:
    """One claim on a set of kernels: a verdict per kernel, the overall verdict and its condition."""

    claim: str
    verdicts: tuple[EraVerdict, ...]
    verdict: str
    depends_on: str
    reads: tuple[str, ...]

    def by_kernel(self) -> dict[str, str]:
        """``{kernel: verdict}`` in the order of the kernels."""
        return {e.kernel: e.verdict for e in self.verdicts}

    def on(self, kernel: str) -> EraVerdict:
        """The verdict on ``kernel`` (one of the set)."""
        for e in self.verdicts:
            if e.kernel == kernel:
                return e
        raise ValidationError("kernel", kernel, f"one of {', '.join(self.by_kernel())}")

    def summary(self) -> str:
        """``depends: moot where ...; holds ...`` or the common verdict."""
        return f"{self.verdict}: {self.depends_on}" if self.depends_on else self.verdict


def era_kernels(kernels: Iterable[str] | None = None) -> list[str]:
    """The kernels to check against: the given profile names (checked), or the story's tree kernels."""
    if kernels is None:
        return story_kernels()
    chosen = [kernels] if isinstance(kernels, str) else list(kernels)
    if not chosen:
        raise ValidationError("kernels", chosen, "at least one kernel profile")
    for name in chosen:
        load_kernel(name)  # an unknown name lists the known ones
    return list(dict.fromkeys(chosen))


# --------------------------------------------------------------------------------------------------
# What a kernel fact says, in words
# --------------------------------------------------------------------------------------------------


def _offline_phrase(k: KernelProfile) -> str:
    if k.cpu_offline.value == "never":
        return "where a TD cannot offline CPUs"
    return f"from {k.cpu_offline.since} with a MADT wakeup mailbox v1"


_PHRASES: dict[str, Callable[[KernelProfile], str]] = {
    "cpu_offline": _offline_phrase,
    "hz": lambda k: f"at HZ {k.hz.value}",
    "msleep_extra_jiffy": lambda k: (
        "with msleep's extra jiffy" if k.msleep_extra_jiffy.value else "without msleep's extra jiffy"
    ),
}


def fact_phrase(fact: str, kernel: str | KernelProfile) -> str:
    """How the condition of a verdict reads for one fact of a kernel (``at HZ 1000``)."""
    if fact not in _PHRASES:
        raise ValidationError("kernel fact", fact, f"one of {', '.join(_PHRASES)}")
    return _PHRASES[fact](load_kernel(kernel))


def _where(reads: Sequence[str], names: list[str], all_kernels: list[str], *, always: bool = False) -> str:
    """``where a TD cannot offline CPUs (a, b)``: the facts that single out ``names`` among the kernels
    (``always``: every fact the group shares, also when no kernel of the set differs)."""
    words = []
    for fact in reads:
        mine = {fact_phrase(fact, n) for n in names}
        everyone = {fact_phrase(fact, n) for n in all_kernels}
        if len(mine) == 1 and (always or len(everyone) > 1):
            words.append(mine.pop())
    return f"{' and '.join(words) if words else 'on'} ({', '.join(names)})"


def _condition(reads: Sequence[str], verdicts: Sequence[EraVerdict], all_kernels: list[str]) -> str:
    """What the overall verdict depends on: ``moot where ... (a, b); holds ... (c, d)`` when the verdicts
    differ; when they agree, the part of the argument some kernels make moot (or "")."""
    groups: dict[str, list[str]] = {}
    for e in verdicts:
        groups.setdefault(e.verdict, []).append(e.kernel)
    if len(groups) > 1:
        return "; ".join(f"{v} {_where(reads, names, all_kernels)}" for v, names in groups.items())
    moot: dict[str, list[str]] = {}
    for e in verdicts:
        if e.moot:
            moot.setdefault(e.moot, []).append(e.kernel)
    parts = [
        f"{part} is moot {_where(('cpu_offline',), names, all_kernels, always=True)}"
        for part, names in moot.items()
    ]
    every = " on every kernel" if len(all_kernels) > 1 else ""
    return f"{verdicts[0].verdict}{every}; " + "; ".join(parts) if parts else ""


# --------------------------------------------------------------------------------------------------
# Running a claim on each kernel
# --------------------------------------------------------------------------------------------------


def _on(claim_id: str, kernel: str, params: Mapping[str, Any]) -> EraVerdict:
    try:
        v: Verdict = check(claim_id, **params, kernel=kernel)
    except CpuOfflineUnsupported as exc:
        return EraVerdict(
            kernel, "moot", f"Moot on {kernel}: no CPU can go offline in its TDs ({exc.reason})."
        )
    return EraVerdict(kernel, v.verdict, v.evidence, v.numbers, v.flips, v.moot)


def claim_eras(claim_id: str, kernels: Iterable[str] | None = None, **params: Any) -> Eras:
    """The claim on each kernel of ``kernels`` (default: :func:`era_kernels`), and overall.

    ``params`` go to the check as in :func:`~tdxlib.argument.claims.check` (not ``kernel``: that is what
    varies). A check that reads no kernel fact runs once; its verdict is every kernel's.
    """
    if "kernel" in params:
        raise ValidationError("parameters", "kernel", "kernels=[...] (the kernel is what the eras vary)")
    names = era_kernels(kernels)
    reads = check.reads(claim_id)
    if reads:
        verdicts = tuple(_on(claim_id, k, params) for k in names)
    else:
        v = check(claim_id, **params)
        verdicts = tuple(EraVerdict(k, v.verdict, v.evidence, v.numbers, v.flips) for k in names)
    same = len({e.verdict for e in verdicts}) == 1
    overall = verdicts[0].verdict if same else "depends"
    return Eras(claim_id, verdicts, overall, _condition(reads, verdicts, names), reads)


def shipped_kernels() -> list[str]:
    """Every shipped profile, the story's first, then the distributions by name."""
    story = story_kernels()
    return story + [n for n in kernel_names() if n not in story]
