"""The commented proposal template ``tdxlib proposals new`` writes; it validates as it stands."""

from __future__ import annotations

__all__ = ["TEMPLATE"]

#: A complete, valid proposal with a comment on every field (edit it; check it with
#: ``tdxlib proposals check FILE``; the schema is data/proposals/schema.json).
TEMPLATE = """\
# A GHCI spec proposal for tdxlib (format: data/proposals/README.md, schema: data/proposals/schema.json).
# Check it:     tdxlib proposals check my-proposal.yaml
# Evaluate it:  tdxlib proposals eval my-proposal.yaml --suite default --format md

# A short slug: lower-case letters, digits and '-'.
id: my-proposal
title: "One line saying what changes"
# draft | proposed | agreed | adopted | implemented | rejected | superseded | withdrawn
status: draft
# The spec version this changes, "GHCI <major>.<minor>".
base_spec: "GHCI 1.0"
summary: >-
  Two or three sentences in your own words: what the spec would say, and what a guest and a VMM
  would do differently.

# One entry per TDVMCALL touched. tdvmcall: a leaf of data/ghci/leaves.yaml (or a new CamelCase name
# with leaf: added); section: a number of data/proposals/meta/sections.yaml whose TDVMCALL it is.
changes:
  - tdvmcall: SetupEventNotifyInterrupt
    section: "3.5"
    leaf: unchanged              # unchanged | added | removed
    arguments:                   # registers added/changed/removed (R12 is already the vector here)
      - register: R13
        name: apic_id
        action: added            # added | changed | removed
        range: [0, 4294967295]   # optional [low, high]; a vector range must lie within 32..255
        meaning: "APIC ID of the vCPU the VMM injects into"
    wording:                     # normative wording changes, e.g. can -> must
      - before: can
        after: must
        statement: "The VMM injects the registered vector into the vCPU named in R13."
    # The VMM targeting rule (tdxlib.tdx.vmm.Target): any | random-online | bsp | setup-caller |
    # getquote-caller | apic-id-arg | getquote-arg
    targeting: apic-id-arg
    summary: "What this change does to the call."

# The guest side: a strategy of tdxlib.tdx.strategies.make_strategy and its parameters:
#   system-vector (vector), dynamic / dynamic-apic / caller-vcpu (apic_targeting, call_from_target,
#   reregister, reregister_delay_ms, target_cpu, early), polling (interval_ms, iterations,
#   status_check), quote-carries-vector (with_apic); all take timeout_s, fallback, drivers,
#   callback_list, serialized. layout: the guest's vector layout (data/vectors/).
strategy:
  name: dynamic-apic
  layout: linux-5.19
  params:
    reregister: true             # call again after the notify IRQ migrates
    # fallback: {interval_ms: 1000, timeout_s: 30.0}   # also poll, as a safety net

# The host side: a profile of data/vmm/ (or just `vmm: qemu-10.1`), with fields overridden.
vmm:
  profile: apic-id-arg
  overrides:
    inject: must                 # must | can | never (inject_probability 1.0 / any / 0.0)
    offline_target: pending      # pending | lost: the target vCPU is offline at injection

# Why: each point in your words, with at least one source (message_id, section, commit or url).
rationale:
  - point: "The reason for the change, in your words."
    sources:
      - author: Kai Huang
        date: 2022-06-20
        message_id: "<78873cc1db47ba00a4c01f38290521c1a6072820.camel@intel.com>"
        section: "3.5"

# Notes on the spec text, anchored to a section (and its TDVMCALL).
# kind: ambiguity | normative-change | question | risk | decision
# status: open | resolved | accepted | rejected | deferred
# evidence: scenarios of data/proposals/meta/suites.yaml to show beside the note.
annotations:
  - anchor: {section: "3.5", tdvmcall: SetupEventNotifyInterrupt}
    kind: question
    author: Your Name
    date: 2026-01-01
    status: open
    text: "What the text leaves open, and what the evaluation should show."
    evidence: [small-td, hotplug-churn]
"""
