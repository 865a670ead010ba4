"""tdxlib.kernel.profile: the shipped guest kernel profiles, one test per fact of issue 17 (its value in
data/kernels and the commit or Message-ID its source cites), the loader and its errors, the overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tdxlib import cache
from tdxlib.data import data_path, load_yaml
from tdxlib.errors import DataError, ValidationError
from tdxlib.kernel.profile import (
    DEFAULT_KERNEL,
    KernelProfile,
    kernel_names,
    kernel_sources,
    load_kernel,
)
from tdxlib.kernel.vectors import layout_switches, load_layout

STORY = ("linux-5.19-tdx-v8", "linux-6.6", "linux-6.12", "linux-7.1")
DISTRIBUTIONS = ("ubuntu-24.04", "rhel-9", "rhel-10", "opensuse-tumbleweed")


def cited(name: str, fact: str) -> str:
    """Every source text the fact ``fact`` (dotted) of profile ``name`` cites, joined."""
    f = load_kernel(name).facts()[fact]
    return " ".join(kernel_sources()[k] for k in f.source)


# ------------------------------------------------------------------------------ the shipped set


def test_the_story_and_the_distributions_are_shipped() -> None:
    assert set(STORY) | set(DISTRIBUTIONS) == set(kernel_names())
    assert DEFAULT_KERNEL == "linux-5.19-tdx-v8"
    assert {load_kernel(n).kind for n in STORY} == {"tree"}
    assert {load_kernel(n).kind for n in DISTRIBUTIONS} == {"distribution"}


@pytest.mark.parametrize("name", sorted(STORY + DISTRIBUTIONS))
def test_every_fact_cites_a_known_source_and_unsure_facts_say_why(name: str) -> None:
    profile = load_kernel(name)
    assert isinstance(profile, KernelProfile) and profile.name == name
    for dotted, fact in profile.facts().items():
        assert fact.source and set(fact.source) <= set(kernel_sources()), dotted
        if fact.status != "verified":
            assert fact.note.strip(), f"{name}.{dotted} is {fact.status} without a note"


def test_every_source_is_cited_somewhere() -> None:
    used = {k for n in kernel_names() for f in load_kernel(n).facts().values() for k in f.source}
    assert used == set(kernel_sources())


@pytest.mark.parametrize("name", sorted(STORY + DISTRIBUTIONS))
def test_profile_facts_agree_with_its_layout(name: str) -> None:
    profile = load_kernel(name)
    lay = load_layout(profile.layout.value, **profile.layout_config())
    defined = {nv.name for nv in lay.named_vectors()}
    assert ("POSTED_MSI_NOTIFICATION_VECTOR" in defined) == profile.posted_msi.value
    switches = layout_switches(profile.layout.value)
    assert ("X86_FRED" in switches) == profile.fred.built.value
    no_kvm = load_layout(
        profile.layout.value,
        **{**profile.layout_config(), next(s for s in ("KVM", "HAVE_KVM") if s in switches): False},
    )
    unconditional = "POSTED_INTR_VECTOR" in {nv.name for nv in no_kvm.named_vectors()}
    assert unconditional == (profile.posted_intr_defined.value == "always")


# ------------------------------------------------------------------------------ the facts of issue 17


def test_a_td_of_the_v8_era_cannot_offline_cpus() -> None:
    for name in ("linux-5.19-tdx-v8", "linux-6.6"):
        k = load_kernel(name)
        assert k.cpu_offline.value == "never" and not k.offlining.allowed
        assert "EOPNOTSUPP" in k.offlining.reason and "CC_ATTR_HOTPLUG_DISABLED" in k.offlining.reason
        text = cited(name, "cpu_offline")
        assert "bae1a962ac2c" in text and "return -EOPNOTSUPP" in text
    assert load_kernel("linux-5.19-tdx-v8").cpu_offline.status == "verified"


def test_from_6_11_a_td_offlines_with_a_version_1_wakeup_mailbox() -> None:
    for name in ("linux-6.12", "linux-7.1", "rhel-10", "opensuse-tumbleweed"):
        k = load_kernel(name)
        assert (k.cpu_offline.value, k.cpu_offline.since) == ("mailbox-v1", "6.11") and k.offlining.allowed
        text = cited(name, "cpu_offline")
        assert "1037e4c53e85" in text and "66e48e491d1e" in text
        assert "ACPI_MADT_MP_WAKEUP_VERSION_V1" in text and "cpu_hotplug_disable_offlining()" in text


def test_msleeps_extra_jiffy_went_in_6_12_not_6_13() -> None:
    expected = {"linux-5.19-tdx-v8": True, "linux-6.6": True, "linux-6.12": False, "linux-7.1": False}
    for name, extra in expected.items():
        assert load_kernel(name).msleep_extra_jiffy.value is extra
    text = cited("linux-6.12", "msleep_extra_jiffy")
    assert "4381b895f544" in text and "v6.12-rc1" in text


def test_fred_active_makes_0x80_allocatable() -> None:
    off = load_layout("linux-6.12")
    on = load_layout("linux-6.12", FRED_ACTIVE=True)
    assert (off.device_vectors_per_cpu(1), off.device_vectors_per_cpu(0)) == (201, 186)
    assert (on.device_vectors_per_cpu(1), on.device_vectors_per_cpu(0)) == (202, 187)
    assert 0x80 in off.system_bits() and 0x80 not in on.system_bits()
    built_only = load_layout("linux-6.12", X86_FRED=True, FRED_ACTIVE=False)
    assert built_only.device_vectors_per_cpu(1) == 201  # CONFIG_X86_FRED alone changes nothing
    assert "fred_complete_exception_setup()" in off.sources["fred"] and "never" in off.sources["fred"]
    assert "changes nothing in the allocation range" not in off.sources["idt.c"]
    k = load_kernel("linux-6.12")
    assert (k.fred.built.value, k.fred.runtime_default.value, k.fred.active.value) == (True, False, False)
    assert k.layout_config()["FRED_ACTIVE"] is False
    assert "0542972950ef" in cited("linux-6.12", "fred.built")


def test_posted_intr_defines_are_unconditional_since_6_9() -> None:
    assert load_kernel("linux-6.12").posted_intr_defined.value == "always"
    assert load_kernel("linux-6.6").posted_intr_defined.value == "CONFIG_HAVE_KVM"
    assert "0cbca1bf44a0" in cited("linux-6.12", "posted_intr_defined")
    lay = load_layout("linux-6.12", KVM=False)
    assert lay.vector("POSTED_INTR_VECTOR") == 0xF2 and 0xF2 not in lay.system_bits()
    assert "0cbca1bf44a0" in lay.sources["posted-intr"]


def test_the_newest_mainline_layout_adds_0xf5_and_keeps_the_range() -> None:
    k = load_kernel("linux-7.1")
    lay = load_layout(k.layout.value)
    assert lay.name == "linux-7.0" and lay.vector("PERF_GUEST_MEDIATED_PMI_VECTOR") == 0xF5
    assert (
        0xF5 in lay.system_bits()
        and 0xF5 not in load_layout("linux-7.0", GUEST_PERF_EVENTS=False).system_bits()
    )
    assert lay.FIRST_SYSTEM_VECTOR == 0xEB and lay.device_vectors_per_cpu(1) == 201
    assert "IBS_MEMPROF_VECTOR" not in {nv.name for nv in lay.named_vectors(include_undefined=True)}
    assert "a05385d84b2a" in lay.sources["perf-mediated"]


def test_the_guest_driver_buffer_is_128_kib_from_7_0() -> None:
    assert load_kernel("linux-7.1").quote_driver.buf_size == 128 * 1024
    assert load_kernel("linux-6.12").quote_driver.buf_size == 8192
    text = cited("linux-7.1", "quote_driver")
    assert "43185067c6fd" in text and "c4f414becb6a" in text and "0f409eaea53e" in text
    assert load_kernel("linux-7.1").quote_driver.error_status_is_error is True
    limits = load_yaml(data_path("ghci", "get_quote.yaml"))["limits"]
    assert limits["linux_buf_size"]["value"] == load_kernel("linux-6.12").quote_driver.buf_size
    assert "UNVERIFIED" not in limits["linux_buf_size"]["meaning"]
    assert limits["linux_timeout_s"]["value"] == load_kernel("linux-6.12").quote_driver.timeout_s
    assert limits["max_buf_len"]["value"] == load_kernel("linux-7.1").quote_driver.buf_size  # QEMU's cap


def test_the_thread_era_drivers() -> None:
    assert load_kernel("linux-5.19-tdx-v8").quote_driver.value == "event-notify-v8"
    assert "wait_for_completion_interruptible()" in cited("linux-5.19-tdx-v8", "quote_driver")
    assert load_kernel("linux-6.6").quote_driver.value == "none"


def test_distribution_hz_is_sourced_or_marked() -> None:
    for name, config in (("rhel-9", "rhel9-config"), ("rhel-10", "rhel10-config")):
        hz = load_kernel(name).hz
        assert (hz.value, hz.status, hz.source) == (1000, "verified", (config,))
        assert "CONFIG_HZ=1000" in kernel_sources()[config]
    tw = load_kernel("opensuse-tumbleweed").hz
    assert (tw.value, tw.status) == (1000, "verified") and "05903385e01a" in cited(
        "opensuse-tumbleweed", "hz"
    )
    ubuntu = load_kernel("ubuntu-24.04").hz
    assert (ubuntu.value, ubuntu.status) == (250, "unverified") and "1000" in ubuntu.note
    assert {load_kernel(n).hz.value for n in STORY} == {250}


def test_not_shipped_distributions_are_named_with_what_was_tried() -> None:
    readme = (data_path("kernels") / "README.md").read_text(encoding="utf-8")
    assert "SLES" in readme and "COS" in readme and readme.count("UNVERIFIED") >= 2


# ------------------------------------------------------------------------------ resolving, loading


def test_guest_resolves_the_profile_and_its_overrides() -> None:
    g = load_kernel("linux-6.12").guest()
    assert (g.layout, g.hz, g.extra_jiffy, g.offlining.allowed) == ("linux-6.12", 250, False, True)
    assert dict(g.layout_config) == {"X86_FRED": True, "FRED_ACTIVE": False} and g.overrides == ()
    o = load_kernel("linux-6.12").guest(layout="linux-5.19-tdx-v8", hz=1000, extra_jiffy=True)
    assert (o.layout, o.hz, o.extra_jiffy, o.layout_config) == ("linux-5.19-tdx-v8", 1000, True, ())
    assert o.offlining.allowed and "hz=1000" in o.describe() and "linux-6.12" in o.describe()
    assert dict(load_kernel("rhel-10").guest().layout_config)["X86_POSTED_MSI"] is False


@pytest.mark.parametrize(
    ("kw", "what"),
    [({"layout": "linux-9"}, "layout"), ({"hz": 0}, "hz"), ({"extra_jiffy": 1}, "extra_jiffy")],
)
def test_bad_overrides_name_themselves(kw: dict[str, object], what: str) -> None:
    with pytest.raises(ValidationError) as exc:
        load_kernel("linux-6.12").guest(**kw)  # type: ignore[arg-type]
    assert exc.value.what == what


def test_an_unknown_kernel_lists_the_known_ones() -> None:
    with pytest.raises(ValidationError) as exc:
        load_kernel("linux-4.0")
    assert all(n in exc.value.allowed for n in kernel_names())
    with pytest.raises(ValidationError):
        load_kernel("sources")  # the sources file is not a profile


def _copy(tmp_path: Path, name: str, edit: tuple[str, str] | None = None) -> Path:
    text = (data_path("kernels") / "linux-6.12.yaml").read_text(encoding="utf-8")
    text = text.replace("name: linux-6.12\n", f"name: {name}\n", 1)
    if edit:
        assert edit[0] in text
        text = text.replace(*edit)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_profile_file_loads_from_a_path_and_is_read_again_when_edited(tmp_path: Path) -> None:
    path = _copy(tmp_path, "mine")
    first = load_kernel(str(path))
    assert first.name == "mine" and load_kernel(str(path)) is first
    path.write_text(path.read_text().replace("value: 250", "value: 1000", 1), encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert load_kernel(str(path)).hz.value == 1000
    cache.clear_all()
    assert load_kernel(str(path)).hz.value == 1000


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (("  source: kconfig-hz\n", "  source: no-such-key\n"), "hz.source", "unknown source 'no-such-key'"),
        (
            ("hz:\n  value: 250\n  status: verified", "hz:\n  value: 250\n  status: inferred"),
            "hz",
            "needs a note",
        ),
        (("  value: 250\n", "  value: 200\n"), "hz", "not a Kconfig choice"),
        (("  value: linux-6.12\n", "  value: linux-9.9\n"), "layout.value", "unknown layout 'linux-9.9'"),
        (("  value: mailbox-v1\n", "  value: sometimes\n"), "cpu_offline.value", "sometimes"),
        (("kind: tree\n", "kind: tree\ncolour: red\n"), "colour", "unknown field"),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, edit: tuple[str, str], field: str, message: str
) -> None:
    path = _copy(tmp_path, "bad", edit)
    with pytest.raises(DataError) as exc:
        load_kernel(str(path))
    err = exc.value
    assert err.path == path and err.line is not None and err.field == field
    assert message in str(err)
