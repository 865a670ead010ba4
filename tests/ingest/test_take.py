"""Tests for tdxlib.ingest.take and the ``tdxlib capture`` command, on fake /proc + /sys trees."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tdxlib.cli import main
from tdxlib.data import load_yaml
from tdxlib.errors import DataError, ValidationError
from tdxlib.ingest import take as capture_mod
from tdxlib.ingest.captures import load_capture

INTERRUPTS = """\
           CPU0       CPU1       CPU3
  0:         40          0          0   IO-APIC   2-edge      timer
 24:          0       9000          0  PCI-MSIX-0000:00:02.0   1-edge      nvme0q1
 25:         12          0          0  PCI-MSIX-0000:00:02.0   0-edge      nvme0q0
 26:          0          0        300  PCI-MSIX-0000:00:03.0   0-edge      eth0-rx
NMI:          0          0          0   Non-maskable interrupts
LOC:       1000       2000       3000   Local timer interrupts
ERR:          0
"""

VECTOR = """\
name:   VECTOR
 size:   0
 mapped: 4
 flags:  0x00000003
Online bitmaps:        3
Global available:    600
Global reserved:       1
Total allocated:       5
System: 38: 0-19,32,50,128,236,240-242,244,246-255
 | CPU | avl | man | mac | act | vectors
     0   199     1     0    2  33,48
     1   200     1     1    1  33
     3   201     0     0    0
"""


def fake_root(
    tmp: Path, *, vector: bool = True, effective: bool = True, interrupts: str = INTERRUPTS
) -> Path:
    root = tmp / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "interrupts").write_text(interrupts)
    (root / "proc" / "version").write_text("Linux version 6.1.0-test (fake@tree) #1 SMP\n")
    (root / "proc" / "cpuinfo").write_text(
        "processor\t: 0\nmodel name\t: Fake CPU\nflags\t\t: fpu hypervisor\n"
    )
    (root / "proc" / "config.gz").write_bytes(
        gzip.compress(
            b"CONFIG_X86_MCE=y\n# CONFIG_GENERIC_IRQ_DEBUGFS is not set\nCONFIG_NR_CPUS=64\nCONFIG_KVM=m\n"
        )
    )
    for irq, smp, eff in (
        (0, "0-3", "0"),
        (24, "0-1", "1"),
        (25, "0-3", "0"),
        (26, "3", "3"),
        (27, "0-3", ""),
    ):
        d = root / "proc" / "irq" / str(irq)
        d.mkdir(parents=True)
        (d / "smp_affinity_list").write_text(smp + "\n")
        if effective:
            (d / "effective_affinity_list").write_text(eff + "\n")
        (d / "node").write_text("0\n")
    cpu = root / "sys" / "devices" / "system" / "cpu"
    cpu.mkdir(parents=True)
    (cpu / "online").write_text("0-1,3\n")
    (cpu / "possible").write_text("0-3\n")
    dom = root / "sys" / "kernel" / "debug" / "irq" / "domains"
    dom.mkdir(parents=True)
    if vector:
        (dom / "VECTOR").write_text(VECTOR)
    return root


def no_debugfs(p: Path) -> bytes:
    """What an unprivileged user meets: debugfs is mode 0700 root."""
    if "/sys/kernel/debug" in str(p):
        raise PermissionError(13, "Permission denied", str(p))
    return p.read_bytes()


def test_capture_without_root_records_what_it_could_not_read(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    out = tmp_path / "caps"
    path = capture_mod.take_capture("box", out, root=root, reader=no_debugfs)
    man = load_yaml(path / "manifest.yaml")
    vec = man["files"]["VECTOR.txt"]
    assert vec["status"] == "unreadable" and "permission denied" in vec["reason"]
    assert not (path / "VECTOR.txt").exists()
    assert (
        man["files"]["interrupts.txt"]["status"] == "ok" and man["files"]["interrupts.txt"]["irq_rows"] == 4
    )
    assert man["kernel"]["release"] == "6.1.0-test" and man["machine"]["cpus_online"] == "0-1,3"
    assert man["config"]["CONFIG_KVM"] == "m" and man["config"]["CONFIG_GENERIC_IRQ_DEBUGFS"] == "n"
    assert man["machine"]["hypervisor_flag"] is True and man["constructed"] is False
    assert (path / "interrupts.txt").read_text() == INTERRUPTS
    cap = load_capture(path)
    load = cap.load()
    assert load.kind == "estimated" and load.ncpus == 4 and load.cpus == (0, 1, 3)
    # IRQ 27 has no /proc/interrupts row; 24 is a managed NVMe queue over CPUs 0-1, effective CPU 1
    assert load.allocated.tolist() == [2, 1, 0, 1]
    assert load.managed.tolist() == [1, 1, 0, 0] and load.managed_allocated.tolist() == [0, 1, 0, 0]


def test_capture_as_root_keeps_the_vector_dump(tmp_path: Path) -> None:
    path = capture_mod.take_capture("box", tmp_path / "caps", root=fake_root(tmp_path))
    man = load_yaml(path / "manifest.yaml")
    assert man["files"]["VECTOR.txt"]["status"] == "ok" and man["files"]["VECTOR.txt"]["cpus_online"] == 3
    load = load_capture(path).load()
    assert load.exact and load.global_reserved == 1 and load.available.tolist() == [199, 200, 0, 201]
    m = load.to_matrix()
    assert m.alloc_bits(0) == [33, 48] and m.cpu_managed(1) == 1 and not m.is_online(2)


def test_missing_files_are_explained(tmp_path: Path) -> None:
    root = fake_root(tmp_path, vector=False, effective=False)
    path = capture_mod.take_capture("box", tmp_path / "caps", root=root)
    man = load_yaml(path / "manifest.yaml")
    vec = man["files"]["VECTOR.txt"]
    assert vec["status"] == "unreadable" and "CONFIG_GENERIC_IRQ_DEBUGFS" in vec["reason"]
    aff = man["files"]["irq_affinity.txt"]
    assert aff["status"] == "partial" and aff["unreadable"]["effective_affinity_list"] == {"missing": 5}
    assert any("effective_affinity_list" in n for n in man["notes"])
    load = load_capture(path).load()
    assert {p.irq: p.how for p in load.irqs}[26] == "smp_affinity+counts"


def test_debugfs_not_mounted(tmp_path: Path) -> None:
    root = fake_root(tmp_path, vector=False)
    (root / "proc" / "config.gz").unlink()
    for sub in ("irq/domains", "irq"):
        (root / "sys" / "kernel" / "debug" / sub).rmdir()
    path = capture_mod.take_capture("box", tmp_path / "caps", root=root)
    assert "not mounted" in load_yaml(path / "manifest.yaml")["files"]["VECTOR.txt"]["reason"]


def test_garbled_interrupts_are_kept_but_flagged(tmp_path: Path) -> None:
    root = fake_root(tmp_path, interrupts="this is not /proc/interrupts\n")
    path = capture_mod.take_capture("box", tmp_path / "caps", root=root)
    entry = load_yaml(path / "manifest.yaml")["files"]["interrupts.txt"]
    assert entry["status"] == "unparsed" and ":1:" in entry["reason"]


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    out = tmp_path / "caps"
    path = capture_mod.take_capture("box", out, root=root)
    (path / "marker").write_text("old")
    with pytest.raises(ValidationError, match="not yet used"):
        capture_mod.take_capture("box", out, root=root)
    assert (path / "marker").exists()
    capture_mod.take_capture("box", out, root=root, force=True)
    assert not (path / "marker").exists() and (path / "manifest.yaml").exists()
    assert sorted(p.name for p in out.iterdir()) == ["box"]  # no temp or old directories left


def test_bad_name_and_root(tmp_path: Path) -> None:
    for bad in ("", "../x", ".hidden", "a b", "x" * 65):
        with pytest.raises(ValidationError, match="capture name"):
            capture_mod.take_capture(bad, tmp_path, root=fake_root(tmp_path / bad.replace("/", "_")))
    with pytest.raises(ValidationError, match="proc"):
        capture_mod.take_capture("ok", tmp_path, root=tmp_path / "nowhere")


def test_cli_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = fake_root(tmp_path)
    out = tmp_path / "caps"
    argv = ["capture", "cli-box", "--out", str(out), "--root", str(root), "--description", "a fake tree"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "cli-box" in printed and "VECTOR.txt" in printed
    assert load_yaml(out / "cli-box" / "manifest.yaml")["description"] == "a fake tree"
    assert main(argv) == 1
    assert "not yet used" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0


def test_a_broken_layout_file_does_not_stop_a_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config keys of the layouts' switches are a bonus: a layout that fails to load costs only them."""
    root = fake_root(tmp_path)
    good = load_yaml(capture_mod.take_capture("good", tmp_path / "caps", root=root) / "manifest.yaml")
    assert good["config"]["CONFIG_KVM"] == "m"  # KVM: a switch of the shipped layouts, not a fixed key

    def broken(name: str) -> object:
        raise DataError("YAML syntax error", f"{name}.yaml", 3)

    monkeypatch.setattr(capture_mod, "layout_switches", broken)
    man = load_yaml(capture_mod.take_capture("broken", tmp_path / "caps", root=root) / "manifest.yaml")
    assert man["config"]["CONFIG_NR_CPUS"] == "64" and "CONFIG_KVM" not in man["config"]


# --- issue 15: --force replaces only a tdxlib capture; everything else is refused, naming what is there ---


def test_force_never_replaces_a_folder_that_is_not_a_capture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mkdir -p d/home; echo x > d/home/doc.txt; tdxlib capture home --out d --force`` deleted doc.txt."""
    root = fake_root(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d" / "home").mkdir(parents=True)
    (tmp_path / "d" / "home" / "doc.txt").write_text("x\n")
    assert main(["capture", "home", "--out", "d", "--force", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "d/home: is a folder without manifest.yaml (it holds doc.txt)" in err
    assert (tmp_path / "d" / "home" / "doc.txt").read_text() == "x\n"  # the user's file is still there
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["home"]  # nothing beside it
    assert sorted(p.name for p in (tmp_path / "d" / "home").iterdir()) == ["doc.txt"]


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.write_text("mine\n"), "is a file"),  # was: replaced, and a stray .NAME.old-* left
        (lambda p: p.symlink_to(p.parent), "is a symbolic link"),
        (
            lambda p: (p.mkdir(), (p / "manifest.yaml").write_text("format: 2\n")),
            "not a tdxlib capture manifest",
        ),
    ],
)
def test_force_refuses_what_is_not_a_capture(tmp_path: Path, make: object, words: str) -> None:
    root = fake_root(tmp_path)
    out = tmp_path / "caps"
    out.mkdir()
    dest = out / "box"
    make(dest)  # type: ignore[operator]
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(DataError, match=words):
        capture_mod.take_capture("box", out, root=root, force=True)
    assert sorted(p.name for p in out.iterdir()) == before  # no .box.tmp-* or .box.old-* left


def test_out_that_is_a_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``tdxlib capture x --out FILE`` raised FileExistsError."""
    root = fake_root(tmp_path)
    (tmp_path / "FILE").write_text("mine\n")
    assert main(["capture", "x", "--out", str(tmp_path / "FILE"), "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "FILE: is not a directory" in err and "Traceback" not in err
    assert (tmp_path / "FILE").read_text() == "mine\n"


def test_a_written_manifest_carries_its_schema_and_validates(tmp_path: Path) -> None:
    path = capture_mod.take_capture("box", tmp_path, root=fake_root(tmp_path))
    text = (path / "manifest.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schemas/capture-manifest.json\n")
    assert capture_mod.read_manifest(path / "manifest.yaml")["name"] == "box"
