"""Shared by the claims tests: the pinned verdicts, a check's defaults and numbers, binomial bounds,
the spec's inputs of a TDVMCALL, and the flip assertion."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import yaml

from tdxlib.argument.claims import check
from tdxlib.data import data_path

#: The verdict of every claim at its check's defaults (the golden summary pins them too).
EXPECTED = {
    "notify-works": "holds",
    "any-cpu-needs-system-vector": "holds",
    "apic-id-enables-dynamic": "holds",
    "caller-vcpu-rule-suffices": "holds",
    "hotplug-needs-reregistration": "holds",
    "may-inject-needs-polling": "holds",
    "timeout-required": "holds",
    "system-vector-wasteful": "depends",
    "config-gated": "fails",
    "removal-fan-out": "depends",
    "getquote-carries-vector": "holds",
    "early-init-lands-on-cpu0": "holds",
    "polling-sufficient": "holds",
}

#: The verdict of every claim on each kernel of the story (linux-5.19-tdx-v8, linux-6.6, linux-6.12,
#: linux-7.1), where it differs from EXPECTED everywhere: a TD of 5.19 + v8 or 6.6 cannot offline CPUs.
ERAS = {"hotplug-needs-reregistration": ("moot", "moot", "holds", "holds")}
#: The ledger's overall verdict (the golden summary pins it): one verdict on every era, else depends.
OVERALL = {**EXPECTED, "hotplug-needs-reregistration": "depends"}


def nums(table: pd.DataFrame, claim_id: str) -> dict[str, Any]:
    """The numbers of ``claim_id``'s row of a ledger."""
    row = table[table["id"] == claim_id]
    assert len(row) == 1
    return dict(row.iloc[0]["numbers"])


def default(claim_id: str, name: str) -> Any:
    """The default of one parameter of a check."""
    return check.parameters(claim_id)[name]


def in_binomial(k: float, n: int, p: float, z: float = 4.0) -> bool:
    """``k`` within ``z`` standard deviations of a Binomial(n, p) mean."""
    sd = math.sqrt(n * p * (1 - p))
    return n * p - z * sd <= k <= n * p + z * sd


def spec_inputs(leaf_name: str) -> set[str]:
    """The registers the GHCI as written lists as inputs of a TDVMCALL."""
    leaves = yaml.safe_load(data_path("ghci", "leaves.yaml").read_text())["leaves"]
    return set(leaves[leaf_name]["inputs"])


def assert_flips(claim_id: str, params: dict[str, Any], verdict: str) -> None:
    """Re-run ``claim_id`` with ``params``: its verdict changes from the pinned one to ``verdict``."""
    assert EXPECTED[claim_id] != verdict
    v = check(claim_id, **params)
    assert v.verdict == verdict, v.evidence
    for name, value in params.items():
        assert v.params[name] == value
