"""tdxlib.kernel.vectors.layout: shipped layouts against ../shared/reference/kernel.md, switches, the cache.

Expected numbers below are written from kernel.md (section 2 "irq_vectors.h" and the debugfs example of
section 3.2), not from the code or the YAML files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxlib import cache
from tdxlib.data import data_path
from tdxlib.errors import ValidationError
from tdxlib.kernel.vectors import (
    ROLES,
    VectorLayout,
    layout_names,
    layout_path,
    layout_switches,
    load_layout,
)
from tdxlib.kernel.vectors import layout as layout_module


def parselist(text: str) -> list[int]:
    """'0-19,32' -> [0..19, 32] (the kernel's %*pbl format), independent of tdxlib."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


# kernel.md 2.1: the named vectors of v5.19's irq_vectors.h at or above FIRST_SYSTEM_VECTOR, plus the
# cleanup vector; 0xf5 is unused ("was UV_BAU_MESSAGE").
SYSTEM_5_19 = {
    "IRQ_MOVE_CLEANUP_VECTOR": 0x20,
    "SPURIOUS_APIC_VECTOR": 0xFF,
    "ERROR_APIC_VECTOR": 0xFE,
    "RESCHEDULE_VECTOR": 0xFD,
    "CALL_FUNCTION_VECTOR": 0xFC,
    "CALL_FUNCTION_SINGLE_VECTOR": 0xFB,
    "THERMAL_APIC_VECTOR": 0xFA,
    "THRESHOLD_APIC_VECTOR": 0xF9,
    "REBOOT_VECTOR": 0xF8,
    "X86_PLATFORM_IPI_VECTOR": 0xF7,
    "IRQ_WORK_VECTOR": 0xF6,
    "DEFERRED_ERROR_VECTOR": 0xF4,
    "HYPERVISOR_CALLBACK_VECTOR": 0xF3,
    "POSTED_INTR_VECTOR": 0xF2,
    "POSTED_INTR_WAKEUP_VECTOR": 0xF1,
    "POSTED_INTR_NESTED_VECTOR": 0xF0,
    "MANAGED_IRQ_SHUTDOWN_VECTOR": 0xEF,
    "HYPERV_REENLIGHTENMENT_VECTOR": 0xEE,
    "HYPERV_STIMER0_VECTOR": 0xED,
    "LOCAL_TIMER_VECTOR": 0xEC,
}
# kernel.md 1.2: the v8 diff moves only LOCAL_TIMER_VECTOR and adds the TDX vector at 0xec.
SYSTEM_V8 = {**SYSTEM_5_19, "LOCAL_TIMER_VECTOR": 0xEB, "TDX_GUEST_EVENT_NOTIFY_VECTOR": 0xEC}
# kernel.md 2.2: v6.6 drops IRQ_MOVE_CLEANUP_VECTOR, otherwise identical to 2.1.
SYSTEM_6_6 = {k: v for k, v in SYSTEM_5_19.items() if k != "IRQ_MOVE_CLEANUP_VECTOR"}
# kernel.md 2.2: v6.10 adds POSTED_MSI_NOTIFICATION_VECTOR 0xeb.
SYSTEM_6_12 = {**SYSTEM_6_6, "POSTED_MSI_NOTIFICATION_VECTOR": 0xEB}

# name -> (system vectors, FIRST_SYSTEM_VECTOR, NR_EXTERNAL_VECTORS, NR_SYSTEM_VECTORS,
#          device vectors on a non-boot CPU)
EXPECTED = {
    # kernel.md 2.1 + debugfs example 3.2: 204 - 3 system bits in range (0x20, 0x32, 0x80) = 201
    "linux-5.19": (SYSTEM_5_19, 0xEC, 204, 20, 201),
    # kernel.md 2.1 "With the v8 patch: FIRST_SYSTEM_VECTOR 0xeb, NR_EXTERNAL_VECTORS 203,
    # NR_SYSTEM_VECTORS 21"; 203 - 3 as in 5.19
    "linux-5.19-tdx-v8": (SYSTEM_V8, 0xEB, 203, 21, 203 - 3),
    # kernel.md 2.2: 6.6 as 2.1 without the cleanup vector: 204 - 2 (0x32, 0x80)
    "linux-6.6": (SYSTEM_6_6, 0xEC, 204, 20, 204 - 2),
    # kernel.md 2.2 "recent: FIRST_SYSTEM_VECTOR 0xeb, NR_EXTERNAL_VECTORS 203, NR_SYSTEM_VECTORS 21"
    "linux-6.12": (SYSTEM_6_12, 0xEB, 203, 21, 203 - 2),
}

# The debugfs example (kernel.md 3.2): 8-vCPU pre-6.6 KVM guest.
DEBUGFS_SYSTEM = "0-19,32,50,128,236,240-242,244,246-255"
# ... a kernel without the TDX #VE trap, kernel IBT and SEV-ES #VC (traps 20, 21, 29 are absent there).
DEBUGFS_CONFIG = {"INTEL_TDX_GUEST": False, "X86_KERNEL_IBT": False, "AMD_MEM_ENCRYPT": False}


# ------------------------------------------------------------------------------ shipped layouts


def test_required_layouts_are_shipped() -> None:
    assert {"linux-5.19", "linux-5.19-tdx-v8", "linux-6.12"} <= set(layout_names())
    assert layout_names() == sorted(layout_names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_layout_matches_reference(name: str) -> None:
    system, fsv, nr_ext, nr_sys, per_cpu = EXPECTED[name]
    lay = load_layout(name)
    assert isinstance(lay, VectorLayout)
    assert lay.name == name
    assert lay.system_vectors() == dict(sorted(system.items(), key=lambda kv: kv[1]))
    assert (fsv, nr_ext, nr_sys) == (lay.FIRST_SYSTEM_VECTOR, lay.NR_EXTERNAL_VECTORS, lay.NR_SYSTEM_VECTORS)
    assert lay.device_vectors_per_cpu(1) == per_cpu
    assert lay.external_vectors_per_cpu() == per_cpu
    # kernel.md 2.1 constants common to every layout
    assert (lay.NR_VECTORS, lay.FIRST_EXTERNAL_VECTOR, lay.IA32_SYSCALL_VECTOR) == (256, 0x20, 0x80)
    assert lay.vector("NMI_VECTOR") == 0x02
    assert [lay.isa_irq_vector(i) for i in (0, 2, 15)] == [0x30, 0x32, 0x3F]
    # the boot CPU also holds the 15 pre-assigned ISA vectors (16 legacy IRQs minus the cascade)
    assert lay.device_vectors_per_cpu(0) == per_cpu - 15


def test_debugfs_example_system_line_and_totals() -> None:
    lay = load_layout("linux-5.19", **DEBUGFS_CONFIG)
    assert lay.matrix_system_bits() == parselist(DEBUGFS_SYSTEM)
    assert len(lay.matrix_system_bits()) == 38
    assert 50 not in lay.system_bits()  # the PIC cascade is a matrix system bit only
    m = lay.new_matrix(8)
    assert f"System: 38: {DEBUGFS_SYSTEM}" in m.debug_show()
    # example: Global available 1580 + Total allocated 28 = 8 CPUs x 201, whatever was allocated since
    assert m.global_available + m.total_allocated == 1580 + 28


def test_v8_costs_one_vector_on_every_cpu_whatever_the_config() -> None:
    base = load_layout("linux-5.19")
    for tdx in (True, False):
        v8 = load_layout("linux-5.19-tdx-v8", INTEL_TDX_GUEST=tdx)
        assert v8.FIRST_SYSTEM_VECTOR == 0xEB
        assert v8.vector("LOCAL_TIMER_VECTOR") == 0xEB
        assert v8.device_vectors_per_cpu(1) == base.device_vectors_per_cpu(1) - 1
        assert ("TDX_GUEST_EVENT_NOTIFY_VECTOR" in v8.system_vectors()) is tdx
    off = load_layout("linux-5.19-tdx-v8", INTEL_TDX_GUEST=False)
    assert 0xEC not in off.system_bits()
    with pytest.raises(ValidationError, match="TDX_GUEST_EVENT_NOTIFY_VECTOR"):
        off.vector("TDX_GUEST_EVENT_NOTIFY_VECTOR")


def test_v8_vector_is_a_system_bit_only_in_a_td() -> None:
    in_td = load_layout("linux-5.19-tdx-v8")
    assert 0xEC in in_td.system_bits()
    bare = load_layout("linux-5.19-tdx-v8", TDX_GUEST_DETECTED=False)
    assert bare.vector("TDX_GUEST_EVENT_NOTIFY_VECTOR") == 0xEC
    assert 0xEC not in bare.system_bits()
    assert {r["vector"]: r["role"] for r in bare.describe()}[0xEC] == "unused-system"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hyperv_off_removes_its_vectors(name: str) -> None:
    on, off = load_layout(name), load_layout(name, HYPERV=False)
    assert {"HYPERV_STIMER0_VECTOR", "HYPERV_REENLIGHTENMENT_VECTOR"} <= set(on.system_vectors())
    assert set(on.system_vectors()) - set(off.system_vectors()) == {
        "HYPERV_STIMER0_VECTOR",
        "HYPERV_REENLIGHTENMENT_VECTOR",
    }
    assert off.FIRST_SYSTEM_VECTOR == on.FIRST_SYSTEM_VECTOR


def test_hyperv_vectors_are_set_only_when_running_on_hyperv() -> None:
    lay = load_layout("linux-6.12")
    assert not {0xED, 0xEE, 0xF3} & set(lay.system_bits())
    hv = load_layout("linux-6.12", HYPERV_GUEST=True)
    assert {0xED, 0xEE, 0xF3} <= set(hv.system_bits())
    assert load_layout("linux-6.12", HYPERVISOR_CALLBACK=True).system_bits() == sorted(
        {*lay.system_bits(), 0xF3}
    )


def test_kvm_switch_name_follows_the_kernel_version() -> None:
    assert "POSTED_INTR_VECTOR" not in load_layout("linux-5.19", HAVE_KVM=False).system_vectors()
    # since 0cbca1bf44a0 (v6.9) the defines are unconditional; CONFIG_KVM only gates their IDT entries
    no_kvm = load_layout("linux-6.12", KVM=False)
    assert no_kvm.vector("POSTED_INTR_VECTOR") == 0xF2 and 0xF2 not in no_kvm.system_bits()
    with pytest.raises(ValidationError) as exc:
        load_layout("linux-6.12", HAVE_KVM=False)
    assert "HAVE_KVM" in str(exc.value) and "KVM" in exc.value.allowed


def test_no_local_apic_means_no_system_range() -> None:
    lay = load_layout("linux-6.12", X86_LOCAL_APIC=False)
    assert lay.FIRST_SYSTEM_VECTOR == 256
    assert lay.NR_SYSTEM_VECTORS == 0


def test_smp_off_frees_the_cleanup_vector_before_6_6() -> None:
    up = load_layout("linux-5.19", SMP=False)
    assert 0x20 not in up.system_bits()
    assert up.device_vectors_per_cpu(1) == 204 - 2
    assert {r["vector"]: r["role"] for r in up.describe()}[0x20] == "device"


def test_ia32_emulation_off_makes_0x80_a_device_vector() -> None:
    lay = load_layout("linux-6.12", IA32_EMULATION=False)
    assert 0x80 not in lay.system_bits()
    assert lay.device_vectors_per_cpu(1) == 203 - 1


def test_no_pic_no_cascade_and_no_isa_on_the_boot_cpu() -> None:
    lay = load_layout("linux-6.12")
    assert lay.pic_cascade_vector() not in lay.matrix_system_bits(nr_legacy_irqs=0)
    assert (
        lay.device_vectors_per_cpu(0, nr_legacy_irqs=0)
        == lay.device_vectors_per_cpu(1, nr_legacy_irqs=0)
        == 202
    )


# ------------------------------------------------------------------------------ describe / names


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_describe_covers_every_vector(name: str) -> None:
    lay = load_layout(name)
    rows = lay.describe()
    assert [r["vector"] for r in rows] == list(range(256))
    assert {r["role"] for r in rows} <= set(ROLES)
    roles = {r["vector"]: r["role"] for r in rows}
    assert sum(1 for r in roles.values() if r == "exception") == 32
    assert roles[0x80] == "syscall"
    assert roles[0x32] == "pic-cascade"
    assert roles[0x30] == "isa-legacy"
    assert roles[0x20] == ("system" if name in ("linux-5.19", "linux-5.19-tdx-v8") else "device")
    assert sum(r["allocatable"] for r in rows) == lay.external_vectors_per_cpu()
    assert [v for v, r in roles.items() if r == "system"] == [
        b for b in lay.system_bits() if b >= 0x20 and b != 0x80
    ]
    assert all(
        roles[v] == "unused-system" for v in range(lay.FIRST_SYSTEM_VECTOR, 256) if v not in lay.system_bits()
    )
    assert roles[0xF5] == "unused-system"


def test_vector_lookup() -> None:
    lay = load_layout("linux-6.12")
    assert lay.vector("POSTED_MSI_NOTIFICATION_VECTOR") == lay.FIRST_SYSTEM_VECTOR == 0xEB
    assert lay.vector("X86_TRAP_VE") == 20
    assert lay.vector("NR_EXTERNAL_VECTORS") == 203
    with pytest.raises(ValidationError, match="IRQ_MOVE_CLEANUP_VECTOR"):
        lay.vector("IRQ_MOVE_CLEANUP_VECTOR")
    with pytest.raises(ValidationError):
        lay.vector(0xEC)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 16, True, "2"])
def test_isa_irq_vector_range(bad: object) -> None:
    with pytest.raises(ValidationError, match="legacy irq"):
        load_layout("linux-5.19").isa_irq_vector(bad)  # type: ignore[arg-type]


def test_defaults_are_documented() -> None:
    for name in layout_names():
        lay = load_layout(name)
        assert "distribution kernel" in lay.defaults_represent
        assert set(lay.config) == set(layout_switches(name))
        assert all(sw.kind in ("kconfig", "runtime") and sw.help for sw in lay.switches.values())
        assert all(nv.sources for nv in lay.named_vectors(include_undefined=True))


# ------------------------------------------------------------------------------ new_matrix


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_new_matrix_available_equals_device_vectors(name: str) -> None:
    lay = load_layout(name)
    m = lay.new_matrix(6)
    assert m.online_cpus() == list(range(6))
    assert [m.cpu_available(c) for c in range(6)] == [lay.device_vectors_per_cpu(c) for c in range(6)]
    assert m.system_bits() == lay.matrix_system_bits()
    assert m.alloc_bits(0) == [v for v in range(0x30, 0x40) if v != 0x32]
    assert m.total_allocated == 15


def test_new_matrix_partial_online() -> None:
    lay = load_layout("linux-5.19-tdx-v8")
    m = lay.new_matrix(4, online=[0, 2])
    assert m.online_cpus() == [0, 2]
    assert m.global_available == lay.device_vectors_per_cpu(0) + lay.device_vectors_per_cpu(2)
    m.online(3)  # a CPU hot-added later gets the same count
    assert m.cpu_available(3) == lay.device_vectors_per_cpu(3)


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        ({"ncpus": 0}, "ncpus"),
        ({"ncpus": 4, "online": [1, 2]}, "online"),
        ({"ncpus": 4, "online": [0, 4]}, "online cpu"),
        ({"ncpus": 4, "nr_legacy_irqs": 17}, "nr_legacy_irqs"),
    ],
)
def test_new_matrix_validates(kwargs: dict[str, object], what: str) -> None:
    with pytest.raises(ValidationError) as exc:
        load_layout("linux-6.12").new_matrix(**kwargs)  # type: ignore[arg-type]
    assert exc.value.what == what


SWITCHES_6_12 = sorted(layout_switches("linux-6.12"))


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(EXPECTED)),
    flips=st.sets(st.integers(0, 100)),
    ncpus=st.integers(1, 5),
    nr_legacy=st.sampled_from([0, 1, 2, 3, 16]),
)
def test_new_matrix_agrees_with_arithmetic_for_any_config(
    name: str, flips: set[int], ncpus: int, nr_legacy: int
) -> None:
    switches = sorted(layout_switches(name))
    config = {s: bool(i in flips) for i, s in enumerate(switches)}
    lay = load_layout(name, **config)
    m = lay.new_matrix(ncpus, nr_legacy_irqs=nr_legacy)
    assert [m.cpu_available(c) for c in range(ncpus)] == [
        lay.device_vectors_per_cpu(c, nr_legacy) for c in range(ncpus)
    ]
    assert m.system_bits() == lay.matrix_system_bits(nr_legacy)
    rows = lay.describe(nr_legacy)
    assert sum(r["allocatable"] for r in rows) == lay.external_vectors_per_cpu(nr_legacy)
    recent = name in ("linux-5.19-tdx-v8", "linux-6.12")
    expected_fsv = (0xEB if recent else 0xEC) if config["X86_LOCAL_APIC"] else 256
    assert expected_fsv == lay.FIRST_SYSTEM_VECTOR


# ------------------------------------------------------------------------------ bad input


def test_unknown_layout_lists_known_names() -> None:
    with pytest.raises(ValidationError) as exc:
        load_layout("linux-4.4")
    assert "linux-4.4" in str(exc.value)
    for name in layout_names():
        assert name in str(exc.value)


def test_unknown_switch_names_it_and_the_allowed_ones() -> None:
    with pytest.raises(ValidationError) as exc:
        load_layout("linux-5.19", CONFIG_HYPERV=False)
    assert "CONFIG_HYPERV" in str(exc.value)
    assert "HYPERV" in exc.value.allowed and "INTEL_TDX_GUEST" in exc.value.allowed


def test_switch_values_must_be_bool() -> None:
    with pytest.raises(ValidationError, match="True or False"):
        load_layout("linux-5.19", HYPERV=0)  # type: ignore[arg-type]


# -- the layout cache ----------------------------------------------------------------------------------


def test_layouts_are_cached_per_config_and_immutable() -> None:
    a = load_layout("linux-5.19-tdx-v8", INTEL_TDX_GUEST=False, HYPERV=False)
    b = load_layout("linux-5.19-tdx-v8", HYPERV=False, INTEL_TDX_GUEST=False)
    assert a is b  # keyword order does not matter
    plain = load_layout("linux-5.19-tdx-v8")
    assert plain is load_layout("linux-5.19-tdx-v8") and plain is not a and plain != a
    for mapping in (a.config, a.constants, a.switches, a.sources):
        with pytest.raises(TypeError):
            mapping["INTEL_TDX_GUEST"] = True  # type: ignore[index]
    with pytest.raises(AttributeError):
        a.FIRST_SYSTEM_VECTOR = 0x20  # type: ignore[misc]
    bits = a.system_bits()
    bits.clear()  # lists handed out are fresh copies: the cached layout is unchanged
    assert a.system_bits() and a.config["INTEL_TDX_GUEST"] is False


def test_cache_does_not_skip_validation() -> None:
    load_layout("linux-6.12", KVM=False)
    with pytest.raises(ValidationError, match="True or False"):
        load_layout("linux-6.12", KVM=0)  # 0 == False, but not a bool: refused even when cached
    with pytest.raises(ValidationError, match="NO_SUCH"):
        load_layout("linux-6.12", NO_SUCH=True)


def test_clear_all_builds_the_layout_again() -> None:
    first = load_layout("linux-6.6", HYPERV=False)
    assert load_layout("linux-6.6", HYPERV=False) is first
    cache.clear_all()
    again = load_layout("linux-6.6", HYPERV=False)
    assert again is not first
    assert again == first and again.describe() == first.describe() and again.named == first.named


def test_a_layout_file_added_in_a_session_is_listed_and_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = layout_names()
    folder = tmp_path / "vectors"
    folder.mkdir()
    for name in shipped:
        shutil.copy(layout_path(name), folder / f"{name}.yaml")
    monkeypatch.setattr(layout_module, "data_path", lambda *parts: tmp_path.joinpath(*parts))
    assert layout_names() == shipped
    with pytest.raises(ValidationError, match=r"linux-9\.9"):
        load_layout("linux-9.9")
    text = (folder / "linux-6.12.yaml").read_text(encoding="utf-8")
    (folder / "linux-9.9.yaml").write_text(text.replace("name: linux-6.12\n", "name: linux-9.9\n", 1))
    assert layout_names() == sorted([*shipped, "linux-9.9"])
    assert load_layout("linux-9.9").FIRST_SYSTEM_VECTOR == load_layout("linux-6.12").FIRST_SYSTEM_VECTOR
    assert layout_path("linux-9.9") == (folder / "linux-9.9.yaml").resolve()


def test_layout_path_of_a_name_and_of_a_file() -> None:
    assert layout_path("linux-5.19") == data_path("vectors", "linux-5.19.yaml").resolve()
    assert load_layout("linux-5.19").path == layout_path("linux-5.19")
    assert layout_path("some/where/mine.yaml").name == "mine.yaml"
    with pytest.raises(ValidationError, match=r"linux-5\.19"):
        layout_path("no-such-layout")


def test_reading_a_layout_does_not_import_numpy() -> None:
    """VectorLayout.new_matrix imports the (numpy) allocator inside the function for this reason."""
    code = (
        "import sys; from tdxlib.kernel.vectors import load_layout; "
        "load_layout('linux-6.12').describe(); print('numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
