"""The claims ledger: every claim of the 2022 thread (and its 2023 sequel) with an executable check.

Claims are data (``data/claims/claims.yaml``: id, author, date, message, source, our paraphrase).
Each id has one check, registered with ``@check.register("id")``: it runs the models (the
simulator, the guest, the vector budget) with small seeded defaults and returns a :class:`Verdict` —
``holds``, ``fails`` or ``depends`` — with the deciding numbers and the conditions that flip it.
Keyword parameters re-run a check elsewhere: ``check("notify-works", vmm="never-injects")``. A check
that reads guest-kernel facts takes ``kernel`` and is run on each era's kernel (:mod:`.eras`): a claim
can hold on one kernel and be moot on another. :func:`ledger` puts them all in one pandas frame, in the
order of the YAML file, with the verdict per era and overall.

=========================  =========================================================================
:mod:`.registry`           claim records, the check registry, the names of the numbers
:mod:`.eras`               a claim on each kernel profile, and what its verdict depends on
:mod:`.ledger`             every claim by era in one frame
:mod:`.budget_checks`      the vector budget: system-vector-wasteful, config-gated
:mod:`.delivery_checks`    who gets the interrupt: notify-works, any-cpu-needs-system-vector,
                           apic-id-enables-dynamic, caller-vcpu-rule-suffices, removal-fan-out,
                           getquote-carries-vector, early-init-lands-on-cpu0
:mod:`.hotplug_checks`     hotplug-needs-reregistration
:mod:`.polling_checks`     may-inject-needs-polling, timeout-required, polling-sufficient
:mod:`.support`            what the checks share: one open-workload run, labels, formats
=========================  =========================================================================
"""

from __future__ import annotations

# Importing a topic module registers its checks with ``check`` (the aliases mark them as used).
from tdxlib.argument.claims import budget_checks as budget_checks
from tdxlib.argument.claims import delivery_checks as delivery_checks
from tdxlib.argument.claims import hotplug_checks as hotplug_checks
from tdxlib.argument.claims import polling_checks as polling_checks
from tdxlib.argument.claims.eras import Eras, EraVerdict, claim_eras, era_kernels
from tdxlib.argument.claims.ledger import LEDGER_COLUMNS, ledger
from tdxlib.argument.claims.registry import (
    CLAIM_FIELDS,
    KERNEL_FACTS,
    VERDICTS,
    Claim,
    Finding,
    Verdict,
    check,
    check_ids,
    claims,
    key,
    key_at,
    key_by,
    load_claims,
)

__all__ = [
    "CLAIM_FIELDS",
    "KERNEL_FACTS",
    "LEDGER_COLUMNS",
    "VERDICTS",
    "Claim",
    "EraVerdict",
    "Eras",
    "Finding",
    "Verdict",
    "check",
    "check_ids",
    "claim_eras",
    "claims",
    "era_kernels",
    "key",
    "key_at",
    "key_by",
    "ledger",
    "load_claims",
]
