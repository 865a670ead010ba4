"""The claims registry: claim records (``data/claims/claims.yaml``) and the check of each id.

Claims are data (id, author, date, message, source, our paraphrase), read and validated here
(:class:`ClaimsFile`, ``tdxlib schema claims``) with errors naming file, line and field. Each id has
one check, registered with ``@check.register("id")`` in a topic module of this package; it returns a
:class:`Finding` that :data:`check` turns into a :class:`Verdict`. The ledger (every claim, by era) is
:mod:`~tdxlib.argument.claims.ledger`. The names of a check's numbers are built here (:func:`key`,
:func:`key_at`, :func:`key_by`) so that checks and tests spell them the same way.
"""

from __future__ import annotations

import datetime as _dt
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import numpy as np

from tdxlib.argument.verdicts import CLAIM_VERDICTS
from tdxlib.cache import memo, shared, stat_key
from tdxlib.data import data_path, load_yaml
from tdxlib.errors import DataError, ValidationError
from tdxlib.models import Model, line_for, validate
from tdxlib.tdx.vmm import VmmProfile
from tdxlib.values import Date, Pattern, Str, Text

__all__ = [
    "CLAIM_FIELDS",
    "KERNEL_FACTS",
    "VERDICTS",
    "CheckFn",
    "Claim",
    "ClaimRecord",
    "ClaimsFile",
    "Finding",
    "Verdict",
    "check",
    "check_ids",
    "claims",
    "claims_path",
    "key",
    "key_at",
    "key_by",
    "load_claims",
]

#: The three verdicts a check can return (:data:`tdxlib.argument.verdicts.CLAIM_VERDICTS`).
VERDICTS: tuple[str, ...] = CLAIM_VERDICTS


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
    moot: str = ""

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
            "moot": self.moot,
        }


class Finding(NamedTuple):
    """What a check function returns; the registry adds the id and the parameters to make a Verdict."""

    verdict: str
    evidence: str
    numbers: dict[str, float | int]
    flips: str
    #: The part of the argument the guest's kernel makes moot (``"its hotplug caveat"``), if any.
    moot: str = ""


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


def claims_path() -> Path:
    """The claims file, ``data/claims/claims.yaml`` (under :data:`tdxlib.data.DATA_DIR`)."""
    return data_path("claims", "claims.yaml")


class ClaimRecord(Model):
    """One record of claims.yaml (all fields required, no others)."""

    id: Annotated[Str, Pattern(r"[a-z0-9]+(-[a-z0-9]+)*", "lower-case words joined by '-'")]
    author: Text
    date: Date
    message: Text
    source: Text
    claim: Text


#: Fields of a claim record in claims.yaml (all required, no others).
CLAIM_FIELDS: tuple[str, ...] = tuple(ClaimRecord.model_fields)


class ClaimsFile(Model):
    """``data/claims/claims.yaml``: the claims of the thread, in the order the ledger lists them."""

    claims: list[ClaimRecord]


def load_claims(path: str | Path | None = None) -> list[Claim]:
    """Read and validate a claims file (default ``data/claims/claims.yaml``); errors name file, line and
    field (the shape is :class:`ClaimsFile`; ids must be unique)."""
    p = Path(path) if path is not None else claims_path()
    raw = load_yaml(p)
    doc = validate(ClaimsFile, raw, p, what="a claims file")
    out: list[Claim] = []
    seen: dict[str, int | None] = {}
    for i, record in enumerate(doc.claims):
        line = line_for(raw, ("claims", i))
        if record.id in seen:
            raise DataError(
                f"duplicate claim id {record.id!r} (first on line {seen[record.id]})", p, line, "id"
            )
        seen[record.id] = line
        out.append(Claim(**record.model_dump(), line=line))
    return out


@memo(maxsize=4)
def _claims_in(stat: tuple[tuple[str, int, int], ...]) -> tuple[Claim, ...]:
    """The claims of the file ``stat`` names: its :func:`~tdxlib.cache.stat_key` is the cache key, so an
    edited file is read again (a tuple of frozen records: nothing a caller could change)."""
    return tuple(load_claims(stat[0][0]))


def claims() -> list[Claim]:
    """Every claim of ``data/claims/claims.yaml``, in file order (read again when the file changed)."""
    return list(_claims_in(stat_key(claims_path())))


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------

#: A check: keyword-only parameters with defaults, returning a Finding.
CheckFn = Callable[..., Finding]


#: Kernel facts a check may read (``reads=`` of :meth:`_Checks.register`): fields of a kernel profile.
KERNEL_FACTS: tuple[str, ...] = ("cpu_offline", "hz", "msleep_extra_jiffy")


class _Checks:
    """The check registry: ``check("id", **params)`` runs one, ``@check.register("id")`` adds one."""

    def __init__(self) -> None:
        self._fns: dict[str, CheckFn] = {}
        self._reads: dict[str, tuple[str, ...]] = {}

    def register(self, claim_id: str, *, reads: tuple[str, ...] = ()) -> Callable[[CheckFn], CheckFn]:
        """Decorator: ``fn(**params) -> Finding`` is the check of ``claim_id`` (keyword-only parameters).

        ``reads`` names the guest-kernel facts (:data:`KERNEL_FACTS`) the check's verdict may depend on;
        such a check takes a ``kernel`` parameter (a profile name) and is run on every era's kernel.
        """

        def deco(fn: CheckFn) -> CheckFn:
            if claim_id in self._fns:
                raise ValidationError("check id", claim_id, "an id not registered yet")
            takes_kernel = "kernel" in inspect.signature(fn).parameters
            bad = sorted(set(reads) - set(KERNEL_FACTS))
            if bad or bool(reads) != takes_kernel:
                raise ValidationError(
                    f"reads of check {claim_id!r}",
                    reads,
                    f"facts among {', '.join(KERNEL_FACTS)}, given exactly when the check takes `kernel`",
                )
            self._fns[claim_id] = fn
            self._reads[claim_id] = tuple(reads)
            return fn

        return deco

    def ids(self) -> list[str]:
        """Registered ids (in registration order)."""
        return list(self._fns)

    def reads(self, claim_id: str) -> tuple[str, ...]:
        """The kernel facts the check of ``claim_id`` reads (empty: the same verdict on every kernel)."""
        self._fn(claim_id)
        return self._reads[claim_id]

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
                claims_path(),
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
            moot=finding.moot,
        )


#: Run a check (``check("notify-works", quotes=200)``) or register one (``@check.register("id")``).
check = _Checks()


def check_ids() -> list[str]:
    """Ids that have a check."""
    return check.ids()


# --------------------------------------------------------------------------------------------------
# Names of the numbers
# --------------------------------------------------------------------------------------------------


def key(metric: str, *cases: object) -> str:
    """The name of ``metric`` measured in one case: ``key("lost", "ghci-1.0")`` is ``lost[ghci-1.0]``,
    ``key("device_vectors_per_cpu", "linux-5.19", "off")`` is ``device_vectors_per_cpu[linux-5.19,off]``."""
    return f"{metric}[{','.join(str(c) for c in cases)}]"


def key_at(metric: str, size: int) -> str:
    """The name of ``metric`` at one size (CPUs, drivers): ``key_at("vectors_total_dynamic", 64)`` is
    ``vectors_total_dynamic@64``."""
    return f"{metric}@{size}"


def key_by(metric: str, seconds: float) -> str:
    """The name of ``metric`` counted by ``seconds`` into a run: ``key_by("lost_no_reregister", 30.0)``
    is ``lost_no_reregister_30s``."""
    return f"{metric}_{seconds:g}s"
