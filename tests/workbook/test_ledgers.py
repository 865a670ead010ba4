"""tdxlib.workbook.ledgers: each notebook's claims at the checks' defaults, re-run with its parameters."""

from __future__ import annotations

import pytest

from tdxlib.argument import claims
from tdxlib.errors import ValidationError
from tdxlib.workbook.ledgers import NOTEBOOK_CLAIMS, claims_for, claims_view


def test_every_claim_is_argued_in_exactly_one_notebook() -> None:
    ids = [c.id for c in claims.claims()]
    argued = [i for group in NOTEBOOK_CLAIMS.values() for i in group]
    assert sorted(argued) == sorted(ids)


def test_claims_for_matches_the_ledger_rows() -> None:
    full = claims.ledger()
    mine = claims_for("02_vector_budget")
    expected = full[full["id"].isin(NOTEBOOK_CLAIMS["02_vector_budget"])]
    assert list(mine["id"]) == list(expected["id"])
    assert list(mine["verdict"]) == list(expected["verdict"])
    assert len(claims_for(None)) == len(full)
    with pytest.raises(ValidationError, match="notebook"):
        claims_for("99_nothing")


def test_claims_view_adds_columns_only_when_parameters_change_a_check() -> None:
    ledger, table = claims_view("05_polling", seed=0)  # 0 is every 05 check's default seed
    assert "verdict here" not in table
    assert list(table["verdict"]) == list(ledger["verdict"])
    ledger, table = claims_view("04_hotplug", reregister_delay_ms=1.0)
    assert "verdict here" in table and "evidence here" in table
    # the recorded ledger never depends on the notebook's parameters
    assert list(ledger["verdict"]) == list(claims_for("04_hotplug")["verdict"])


def test_claims_view_routes_vmm_only_to_the_polling_check() -> None:
    _, table = claims_view("05_polling", vmm="never-injects")
    row = table.set_index("id")
    # may-inject-needs-polling keeps its own VMM; polling-sufficient is re-run on never-injects
    assert row.loc["may-inject-needs-polling", "evidence here"].startswith("(as above")
    assert (
        row.loc["may-inject-needs-polling", "verdict here"] == row.loc["may-inject-needs-polling", "verdict"]
    )
    assert "never-injects" in row.loc["polling-sufficient", "evidence here"]
