"""tdxlib.argument.claims (the registry): every claim has a check and a verdict, in claims.yaml order;
checks validate their parameters; the claims file is validated with errors naming file and line, and
an edited file is read again. The checks' numbers and flips are tested per topic (test_*_checks.py)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from claim_helpers import EXPECTED, OVERALL
from paths import ROOT

from tdxlib import data as datafiles
from tdxlib.argument import proposals
from tdxlib.argument.claims import (
    VERDICTS,
    Verdict,
    check,
    check_ids,
    claims,
    key,
    key_at,
    key_by,
    ledger,
    load_claims,
)
from tdxlib.argument.verdicts import CLAIM_VERDICTS, RUN_VERDICTS
from tdxlib.data import data_path
from tdxlib.errors import DataError, ValidationError
from tdxlib.report.golden import compare, read_golden

CLAIMS_YAML = data_path("claims", "claims.yaml")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return ledger()


# ------------------------------------------------------------------ the ledger as a whole


def test_ledger_has_every_claim_in_file_order(table: pd.DataFrame) -> None:
    ids = [c["id"] for c in yaml.safe_load(CLAIMS_YAML.read_text())["claims"]]
    assert list(table["id"]) == ids
    assert list(table.columns[:8]) == [
        "id",
        "author",
        "claim",
        "verdict",
        "depends_on",
        "eras",
        "kernel",
        "evidence",
    ]
    assert set(table["verdict"]) <= set(VERDICTS)
    assert all(isinstance(e, str) and len(e.strip()) > 20 for e in table["evidence"])
    assert all(isinstance(f, str) and f.strip() for f in table["flips"])
    assert set(check_ids()) == set(ids)


def test_verdicts_pinned(table: pd.DataFrame) -> None:
    assert dict(zip(table["id"], table["verdict"], strict=True)) == OVERALL
    assert {c: check(c).verdict for c in check_ids()} == EXPECTED  # each check at its own defaults


def test_numbers_are_plain_json(table: pd.DataFrame) -> None:
    for n in table["numbers"]:
        assert n and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in n.values())
    json.dumps(check("config-gated").to_dict())


# ------------------------------------------------------------------ running checks


def test_every_claim_has_a_flip_test() -> None:
    """Each claim's topic test file re-runs its check where the premise is absent and sees it flip."""
    flipped: set[str] = set()
    for path in Path(__file__).parent.glob("test_*_checks.py"):
        text = path.read_text(encoding="utf-8")
        flipped |= {cid for cid in EXPECTED if f"# flip: {cid}" in text}
    assert flipped == set(EXPECTED) == set(check_ids())


def test_checks_are_deterministic() -> None:
    a = check("any-cpu-needs-system-vector", quotes=300, seed=5)
    b = check("any-cpu-needs-system-vector", quotes=300, seed=5)
    assert a.numbers == b.numbers and a.evidence == b.evidence


# ------------------------------------------------------------------ API and validation


def test_unknown_id_and_parameter_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="notify-works"):
        check("no-such-claim")
    with pytest.raises(ValidationError, match="quotes"):
        check("notify-works", bogus=1)
    with pytest.raises(ValidationError, match="claim id"):
        ledger(ids=["no-such-claim"])
    with pytest.raises(ValidationError, match="seed"):
        ledger(ids=["config-gated"], seed=3)


def test_ledger_subset_and_shared_parameters() -> None:
    t = ledger(ids=["removal-fan-out", "config-gated"], quotes=20)
    assert list(t["id"]) == ["config-gated", "removal-fan-out"]  # file order, not argument order
    assert t.iloc[1]["numbers"]["quote_notified_list@1"] == 20
    assert list(ledger(ids="config-gated")["id"]) == ["config-gated"]


def test_verdict_record_validates() -> None:
    with pytest.raises(ValidationError, match="verdict"):
        Verdict(id="x", verdict="maybe", evidence="e", numbers={}, flips="")
    with pytest.raises(ValidationError, match="evidence"):
        Verdict(id="x", verdict="holds", evidence="  ", numbers={}, flips="")


def test_the_two_verdict_vocabularies_are_defined_once() -> None:
    assert VERDICTS is CLAIM_VERDICTS
    assert proposals.VERDICTS is RUN_VERDICTS


def test_number_names_are_built_one_way() -> None:
    assert key("lost", "ghci-1.0") == "lost[ghci-1.0]"
    assert key("device_vectors_per_cpu", "linux-5.19", "off") == "device_vectors_per_cpu[linux-5.19,off]"
    assert key_at("vectors_total_dynamic", 64) == "vectors_total_dynamic@64"
    assert key(key_by("lost_no_reregister", 30.0), "caller-vcpu") == "lost_no_reregister_30s[caller-vcpu]"
    assert key_by("injected_after_offline", 2.5) == "injected_after_offline_2.5s"


def test_claims_match_the_file() -> None:
    raw = yaml.safe_load(CLAIMS_YAML.read_text())["claims"]
    got = claims()
    assert [c.id for c in got] == [r["id"] for r in raw]
    assert [c.author for c in got] == [r["author"] for r in raw]
    assert all(c.line is not None and c.line > 0 for c in got)


GOOD = """\
claims:
  - id: some-claim
    author: A. Person
    date: 2022-06-20
    message: "Re: something"
    source: "<id@example>"
    claim: our words
"""


@pytest.mark.parametrize(
    ("text", "match", "line"),
    [
        # the file:line: field: message of every file kind (issue 15), the same facts as before
        (GOOD.replace("    claim: our words\n", ""), r"claims\[0\]\.claim: missing", 2),
        (GOOD + "    colour: red\n", r"claims\[0\]\.colour: unknown field", 8),
        (GOOD.replace("2022-06-20", "June 2022"), "not a date", 4),
        (GOOD.replace("some-claim", "Some Claim"), "lower-case", 2),
        (GOOD + GOOD.split("\n", 1)[1], "duplicate claim id", 8),
        (GOOD.replace("claims:", "claimz:"), "claims: missing", 1),
        (GOOD.replace("author: A. Person", "author: 3"), r"claims\[0\]\.author: .*valid string, got 3", 3),
        (GOOD.replace("2022-06-20", "1655683200"), "not a date", 4),  # a timestamp is not a date
    ],
)
def test_claims_file_errors_name_file_and_line(tmp_path: Path, text: str, match: str, line: int) -> None:
    p = tmp_path / "claims.yaml"
    p.write_text(text)
    with pytest.raises(DataError, match=match) as exc:
        load_claims(p)
    assert exc.value.path == p and exc.value.line == line


def test_an_edited_claims_file_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Editing a claim record in a running session: the next call gives the new text (no restart)."""
    claims()  # the shipped file, cached
    shutil.copytree(datafiles.DATA_DIR, tmp_path / "data", ignore=shutil.ignore_patterns("captures"))
    monkeypatch.setattr(datafiles, "DATA_DIR", tmp_path / "data")
    path = tmp_path / "data" / "claims" / "claims.yaml"
    first = claims()
    assert [c.id for c in first] == list(EXPECTED)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["claims"][0]["claim"] = "Edited while the session runs."
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    again = claims()
    assert again[0].claim == "Edited while the session runs."
    assert first[0].claim != again[0].claim  # what the first caller got is unchanged
    assert ledger(ids=["notify-works"]).iloc[0]["claim"] == "Edited while the session runs."
    again.clear()  # a caller's list is its own
    assert len(claims()) == len(EXPECTED)


def test_good_claims_file_loads(tmp_path: Path) -> None:
    p = tmp_path / "claims.yaml"
    p.write_text(GOOD)
    (c,) = load_claims(p)
    assert (c.id, c.date.isoformat(), c.claim) == ("some-claim", "2022-06-20", "our words")


def test_a_vmm_that_stops_injecting_fails_the_golden_check() -> None:
    """The committed golden summary catches a model change that flips a verdict (issue 4)."""

    golden = read_golden(ROOT / "reports" / "summary.golden.json")
    fresh = copy.deepcopy(golden)
    flipped = ledger(ids=["notify-works"], vmm="never-injects").iloc[0]
    fresh["runs"]["01_the_question"]["verdicts"]["notify-works"]["verdict"] = flipped["verdict"]
    diffs = compare(golden, fresh)
    assert len(diffs) == 1, diffs
    assert diffs[0].startswith("01_the_question: claim notify-works verdict flipped: 'holds' -> 'fails'")
    assert compare(golden, copy.deepcopy(golden)) == []
