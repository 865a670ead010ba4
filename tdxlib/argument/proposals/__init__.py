"""Spec proposals as data: a YAML format, evaluation across a scenario suite, annotated rendering.

A spec writer states a GHCI change in a small YAML file (``data/proposals/*.yaml``; format in
``data/proposals/README.md``, schema generated from :class:`Proposal`): the TDVMCALL arguments and
wording it changes, the guest strategy and VMM behaviour that go with it, the rationale with
citations, and annotations anchored to GHCI sections. tdxlib validates it (errors name file, line and
field), runs it across a scenario suite and renders it annotated with the evidence.

=========================  =========================================================================
``load_proposal(path)``    read and validate a file (``ProposalError`` naming file, line, field)
``check_proposal(path)``   the proposal or every error found
``resolve(x)``             a built-in id, a path or a Proposal → Proposal
``builtin_ids()``          the built-in proposals (``ghci-as-written``, ``caller-vcpu``, ...)
``evaluate(p, suite)``     one row per scenario × VMM × seed, with a verdict
``compare(ps, suite)``     one verdict table, a column per proposal
``render_html(p, ev)``     the annotated proposal (every text HTML-escaped)
``TEMPLATE``               the commented template ``tdxlib proposals new`` writes
=========================  =========================================================================
"""

from __future__ import annotations

from tdxlib.argument.proposals.annotate import evaluation_table, render_html
from tdxlib.argument.proposals.catalog import SpecSection, known_sections
from tdxlib.argument.proposals.evaluate import (
    SLOW_FACTOR,
    VERDICTS,
    compare,
    comparison_set,
    evaluate,
    evaluate_all,
    judge,
    key_numbers,
    ledger,
    verdict_table,
    worst,
)
from tdxlib.argument.proposals.load import (
    builtin_ids,
    check_proposal,
    check_proposal_text,
    load_builtins,
    load_proposal,
    load_proposal_text,
    resolve,
)
from tdxlib.argument.proposals.schema import Annotation, Change, Proposal, schema_json
from tdxlib.argument.proposals.suites import Suite, suite_names
from tdxlib.argument.proposals.template import TEMPLATE

__all__ = [
    "SLOW_FACTOR",
    "TEMPLATE",
    "VERDICTS",
    "Annotation",
    "Change",
    "Proposal",
    "SpecSection",
    "Suite",
    "builtin_ids",
    "check_proposal",
    "check_proposal_text",
    "compare",
    "comparison_set",
    "evaluate",
    "evaluate_all",
    "evaluation_table",
    "judge",
    "key_numbers",
    "known_sections",
    "ledger",
    "load_builtins",
    "load_proposal",
    "load_proposal_text",
    "render_html",
    "resolve",
    "schema_json",
    "suite_names",
    "verdict_table",
    "worst",
]
