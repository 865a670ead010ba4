"""tdxlib.argument.claims.eras and .ledger: every claim on each kernel of the story, the overall verdict and
what it depends on; moot where the kernel refuses what the claim is about; distributions by name."""

from __future__ import annotations

import pandas as pd
import pytest
from claim_helpers import ERAS, EXPECTED, OVERALL

from tdxlib.argument.claims import check, claim_eras, era_kernels, ledger
from tdxlib.argument.claims.eras import fact_phrase
from tdxlib.argument.claims.registry import Finding, _Checks
from tdxlib.errors import ValidationError

STORY = ["linux-5.19-tdx-v8", "linux-6.6", "linux-6.12", "linux-7.1"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return ledger()


def test_the_eras_are_the_story_kernels_oldest_first() -> None:
    assert era_kernels() == STORY
    assert era_kernels("rhel-10") == ["rhel-10"]
    with pytest.raises(ValidationError) as exc:
        era_kernels(["linux-4.0"])
    assert "linux-6.12" in exc.value.allowed


def test_the_era_table_of_the_thirteen_claims(table: pd.DataFrame) -> None:
    for _, row in table.iterrows():
        expected = ERAS.get(row["id"], (EXPECTED[row["id"]],) * 4)
        assert row["eras"] == dict(zip(STORY, expected, strict=True)), row["id"]
        assert row["verdict"] == OVERALL[row["id"]]


def test_the_hotplug_claim_depends_on_whether_a_td_can_offline(table: pd.DataFrame) -> None:
    row = table.set_index("id").loc["hotplug-needs-reregistration"]
    assert row["depends_on"] == (
        "moot where a TD cannot offline CPUs (linux-5.19-tdx-v8, linux-6.6); "
        "holds from 6.11 with a MADT wakeup mailbox v1 (linux-6.12, linux-7.1)"
    )
    assert row["kernel"] == "linux-6.12" and row["evidence"].startswith("On linux-6.12:")
    eras = claim_eras("hotplug-needs-reregistration")
    moot = eras.on("linux-5.19-tdx-v8")
    assert moot.verdict == "moot" and "EOPNOTSUPP" in moot.evidence and "bae1a962ac2c" in moot.evidence
    assert eras.summary().startswith("depends: moot where a TD cannot offline CPUs")


def test_hotplug_caveats_are_moot_in_the_v8_era_while_the_claims_stand(table: pd.DataFrame) -> None:
    by_id = table.set_index("id")
    caller = by_id.loc["caller-vcpu-rule-suffices"]
    assert caller["verdict"] == "holds"
    assert caller["depends_on"] == (
        "holds on every kernel; its hotplug caveat is moot where a TD cannot offline CPUs "
        "(linux-5.19-tdx-v8, linux-6.6)"
    )
    old = claim_eras("caller-vcpu-rule-suffices", ["linux-5.19-tdx-v8"]).on("linux-5.19-tdx-v8")
    assert old.moot == "its hotplug caveat" and "lost_hotplug_no_reregister" not in old.numbers
    new = claim_eras("caller-vcpu-rule-suffices", ["linux-6.12"]).on("linux-6.12")
    assert new.numbers["lost_hotplug_no_reregister"] > 0 and not new.moot
    wasteful = by_id.loc["system-vector-wasteful"]
    assert wasteful["verdict"] == "depends" and "CPU-offline refusal is moot" in wasteful["depends_on"]
    w_old = claim_eras("system-vector-wasteful", ["linux-6.6"]).on("linux-6.6")
    assert "offline_limit_system_vector@8" not in w_old.numbers and "-ENOSPC" in w_old.evidence
    assert "getquote-carries-vector" in set(
        by_id.index[by_id["depends_on"].str.contains("hotplug comparison")]
    )


def test_one_kernel_gives_that_kernels_verdict_and_reason() -> None:
    t = ledger(kernels=["linux-5.19-tdx-v8"]).set_index("id")
    assert t.loc["hotplug-needs-reregistration", "verdict"] == "moot"
    assert "no CPU can go offline" in t.loc["hotplug-needs-reregistration", "evidence"]
    assert t.loc["caller-vcpu-rule-suffices", "verdict"] == "holds"
    assert t.loc["caller-vcpu-rule-suffices", "depends_on"].startswith("holds; its hotplug caveat is moot")
    today = ledger(kernels=["linux-6.12"]).set_index("id")
    assert dict(today["verdict"]) == EXPECTED  # a kernel that can offline: the verdicts of today


def test_distribution_kernels() -> None:
    t = ledger(
        ids=["hotplug-needs-reregistration", "polling-sufficient"], kernels=["ubuntu-24.04", "rhel-10"]
    )
    row = t.set_index("id").loc["hotplug-needs-reregistration"]
    assert row["eras"] == {"ubuntu-24.04": "moot", "rhel-10": "holds"}
    polling = claim_eras("polling-sufficient", ["rhel-10"]).on("rhel-10")
    assert "HZ 1000" in polling.evidence and polling.numbers["one_sleep_ms"] == 1000 + 64.0


def test_polling_numbers_follow_the_kernels_hz_and_msleep() -> None:
    old = claim_eras("polling-sufficient", ["linux-6.6", "linux-6.12", "rhel-10"])
    sleeps = {e.kernel: e.numbers["one_sleep_ms"] for e in old.verdicts}
    # 6.6: 251 jiffies of 4 ms rounded up a level-1 granule; 6.12: 250; rhel-10: 1000 of 1 ms, granule 64
    assert sleeps == {"linux-6.6": (251 + 8) * 4.0, "linux-6.12": (250 + 8) * 4.0, "rhel-10": 1000 + 64.0}
    assert old.verdict == "holds" and old.depends_on == ""


def test_kernel_is_what_the_eras_vary() -> None:
    with pytest.raises(ValidationError):
        claim_eras("notify-works", kernel="linux-6.12")
    with pytest.raises(ValidationError):
        ledger(kernel="linux-6.12")
    assert check.reads("hotplug-needs-reregistration") == ("cpu_offline",)
    assert check.reads("polling-sufficient") == ("hz", "msleep_extra_jiffy")
    assert check.reads("config-gated") == ()


def test_a_check_reading_kernel_facts_takes_a_kernel_and_only_known_facts() -> None:
    reg = _Checks()

    def no_kernel(*, x: int = 1) -> Finding:
        return Finding("holds", "e", {}, "f")

    def with_kernel(*, kernel: str = "linux-6.12") -> Finding:
        return Finding("holds", "e", {}, "f")

    for fn, reads in ((no_kernel, ("hz",)), (with_kernel, ()), (with_kernel, ("colour",))):
        with pytest.raises(ValidationError):
            reg.register("notify-works", reads=reads)(fn)


def test_fact_phrases() -> None:
    assert fact_phrase("cpu_offline", "linux-5.19-tdx-v8") == "where a TD cannot offline CPUs"
    assert fact_phrase("cpu_offline", "linux-7.1") == "from 6.11 with a MADT wakeup mailbox v1"
    assert fact_phrase("hz", "rhel-9") == "at HZ 1000"
    assert fact_phrase("msleep_extra_jiffy", "linux-6.12") == "without msleep's extra jiffy"
    with pytest.raises(ValidationError):
        fact_phrase("layout", "linux-6.12")
