"""tdxlib.kernel.vectors.spec: a layout file is validated (errors name file, line, field); edits are read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tdxlib import cache
from tdxlib.errors import DataError
from tdxlib.kernel.vectors import load_layout
from tdxlib.kernel.vectors.spec import read_spec


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken", "name: broken\nkernel: v0\nsources: [unclosed\ntitle: x\n")
    with pytest.raises(DataError) as exc:
        load_layout(path)
    assert exc.value.path is not None and Path(str(exc.value.path)).name == "broken.yaml"
    assert exc.value.line in (3, 4)
    assert "broken.yaml:" in str(exc.value)


def _valid_text(name: str) -> str:
    """The shipped 6.12 file renamed, as a base for semantic errors."""
    src = Path(str(load_layout("linux-6.12").path)).read_text(encoding="utf-8")
    return src.replace("name: linux-6.12\n", f"name: {name}\n", 1)


def test_a_copied_layout_loads_from_a_path(tmp_path: Path) -> None:
    lay = load_layout(_write(tmp_path, "mine", _valid_text("mine")), KVM=False)
    assert lay.name == "mine" and 0xF2 not in lay.system_bits()


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("system_bit: X86_LOCAL_APIC and KVM,", "system_bit: X86_LOCAL_APIC and KVMM,", "undeclared switch"),
        ("{name: X86_TRAP_VC, vector: 29,", "{name: X86_TRAP_VC, vector: 0x29,", "out of range"),
        ("{name: ERROR_APIC_VECTOR, value: 0xfe,", "{name: ERROR_APIC_VECTOR, value: 0xff,", "both defined"),
        (
            "{name: IRQ_WORK_VECTOR, value: 0xf6, system_bit:",
            "{name: IRQ_WORK_VECTOR, value: 0xf6, sytem_bit:",
            "unknown field; expected one of defined, how, name, note, role, source, system_bit, value",
        ),
        ("source: [irq_vectors.h, idt.c]}", "source: [irq_vectors.h, idtc]}", "unknown source"),
        (
            "system_bit: X86_LOCAL_APIC and X86_POSTED_MSI",
            "system_bit: X86_LOCAL_APIC and (X86_POSTED_MSI",
            r"missing '\)'",
        ),
    ],
)
def test_semantic_errors_name_file_and_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = _valid_text("bad")
    assert old in text
    text = text.replace(old, new, 1)
    path = _write(tmp_path, "bad", text)
    with pytest.raises(DataError, match=message) as exc:
        load_layout(path)
    assert Path(str(exc.value.path)).name == "bad.yaml"
    assert exc.value.line == _line_of(text, new)


def test_name_must_match_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "other", _valid_text("mine"))
    with pytest.raises(DataError, match="file name stem"):
        load_layout(path)


def test_missing_default_for_a_switch(tmp_path: Path) -> None:
    text = _valid_text("nodefault").replace("    X86_POSTED_MSI: true\n", "", 1)
    with pytest.raises(DataError, match="X86_POSTED_MSI"):
        load_layout(_write(tmp_path, "nodefault", text))


def test_an_edited_layout_file_is_read_again(tmp_path: Path) -> None:
    path = _write(tmp_path, "mine", _valid_text("mine"))
    first = load_layout(path)
    assert load_layout(path) is first
    text = Path(path).read_text(encoding="utf-8").replace("title:", "title: edited", 1)
    Path(path).write_text(text, encoding="utf-8")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a later modification time
    again = load_layout(path)
    assert again is not first and again.title.startswith("edited")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "      - {value: NR_VECTORS}",
            "      - {config: SMP, value: NR_VECTORS}",
            "the last FIRST_SYSTEM_VECTOR case must have no `config:` (the #else)",
        ),
        (
            "{config: X86_LOCAL_APIC, value: POSTED_MSI_NOTIFICATION_VECTOR}",
            "{config: X86_LOCAL_APIC, value: NO_SUCH_VECTOR}",
            "FIRST_SYSTEM_VECTOR case refers to unknown name 'NO_SUCH_VECTOR'",
        ),
        (
            "NR_VECTORS: {value: 256,",
            "NR_VECTORS: {value: 512,",
            "NR_VECTORS = 512 is out of range; expected 64..256",
        ),
        (
            "ISA_IRQ_VECTOR_BASE: {value: 0x30,",
            "ISA_IRQ_VECTOR_BASE: {value: 0x40,",
            "ISA_IRQ_VECTOR_BASE = 0x40 disagrees with ((FIRST_EXTERNAL_VECTOR + 16) & ~15) = 0x30",
        ),
        (
            "{name: ERROR_APIC_VECTOR, value: 0xfe,",
            "{name: SPURIOUS_APIC_VECTOR, value: 0xfe,",
            "duplicate name 'SPURIOUS_APIC_VECTOR' (first on line 161)",  # 160 + the schema line (issue 15)
        ),
        (
            "{name: IA32_SYSCALL_VECTOR, value: 0x80, role: syscall,",
            "{name: IA32_SYSCALL_VECTOR, value: 0x80, role: device,",
            "Input should be 'system' or 'syscall', got 'device'",  # field vectors[N].role (pydantic)
        ),
        (
            "  X86_POSTED_MSI: {kind: kconfig,",
            "  X86_POSTED_MSI: {kind: config,",
            "Input should be 'kconfig' or 'runtime', got 'config'",  # field switches.X86_POSTED_MSI.kind
        ),
    ],
)
def test_errors_keep_their_words_and_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = _valid_text("bad")
    assert old in text
    text = text.replace(old, new, 1)
    with pytest.raises(DataError) as exc:
        load_layout(_write(tmp_path, "bad", text))
    assert exc.value.message == message
    assert exc.value.line == _line_of(text, new)
    if message.startswith("Input should be"):  # the shape's errors (pydantic) also name the field
        assert exc.value.field in ("switches.X86_POSTED_MSI.kind", "vectors[0].role")


def test_a_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found") as exc:
        read_spec(tmp_path / "gone.yaml")
    assert Path(str(exc.value.path)).name == "gone.yaml"


def test_an_edit_that_keeps_the_modification_time_is_read_again(tmp_path: Path) -> None:
    """The key holds the size as well: a quick edit within the file system's time resolution counts."""
    path = _write(tmp_path, "mine", _valid_text("mine"))
    before = os.stat(path)
    first = load_layout(path)
    Path(path).write_text(_valid_text("mine").replace("title:", "title: edited", 1), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same time, new size
    assert load_layout(path).title.startswith("edited") and first.title != load_layout(path).title


def test_clear_all_parses_again_and_gives_an_equal_spec(tmp_path: Path) -> None:
    path = Path(_write(tmp_path, "mine", _valid_text("mine")))
    first = read_spec(path)
    assert read_spec(path) is first
    cache.clear_all()
    again = read_spec(path)
    assert again is not first
    assert (again.name, dict(again.switches), dict(again.constants)) == (
        first.name,
        dict(first.switches),
        dict(first.constants),
    )
    assert [e.name for e in again.entries] == [e.name for e in first.entries]
