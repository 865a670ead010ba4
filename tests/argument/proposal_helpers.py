"""Shared by the proposals tests: a small valid proposal (tests corrupt one line of it and check the
error points there), the line of a text, and the error a text raises."""

from __future__ import annotations

import pytest

from tdxlib.argument import proposals as P
from tdxlib.errors import ProposalError

BASE = """\
id: tiny
title: "A tiny proposal"
status: draft
base_spec: "GHCI 1.0"
summary: "Only for tests."
changes:
  - tdvmcall: SetupEventNotifyInterrupt
    section: "3.5"
    arguments:
      - register: R13
        name: apic_id
        action: added
        meaning: "target vCPU"
    summary: "adds an APIC ID"
strategy:
  name: dynamic-apic
  layout: linux-5.19
  params:
    reregister: true
vmm: apic-id-arg
rationale:
  - point: "Because."
    sources:
      - section: "3.5"
annotations:
  - anchor: {section: "3.5", tdvmcall: SetupEventNotifyInterrupt}
    kind: question
    author: Someone
    date: 2026-01-01
    text: "Which vCPU?"
"""


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in text")


def error_of(text: str, path: str = "bad.yaml") -> ProposalError:
    with pytest.raises(ProposalError) as info:
        P.load_proposal_text(text, path)
    return info.value
