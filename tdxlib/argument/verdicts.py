"""The verdict vocabularies of the argument, defined once for the claims ledger and the proposals.

Two different questions get two vocabularies: a claim check answers "does this claim of the thread
hold?" (:data:`CLAIM_VERDICTS`), a proposal run answers "what went wrong in this run?" with the
worst problem found (:data:`RUN_VERDICTS`, worst first). ``tdxlib.argument.claims.VERDICTS`` and
``tdxlib.argument.proposals.VERDICTS`` are these two tuples under their historical names.
"""

from __future__ import annotations

__all__ = ["CLAIM_VERDICTS", "ERA_VERDICTS", "RUN_VERDICTS"]

#: The three verdicts a claim check can return.
CLAIM_VERDICTS: tuple[str, ...] = ("holds", "fails", "depends")

#: A claim's verdict on one kernel (an *era*): a check's verdict, or ``moot`` when the kernel refuses
#: what the claim is about (e.g. no CPU can go offline in a TD of that kernel).
ERA_VERDICTS: tuple[str, ...] = (*CLAIM_VERDICTS, "moot")

#: The verdicts of one proposal run, worst first (a run gets the first that applies).
RUN_VERDICTS: tuple[str, ...] = (
    "loses notifications",
    "hangs",
    "times out",
    "fails",
    "refuses CPU offline",
    "wastes vectors",
    "slow",
    "ok",
)
