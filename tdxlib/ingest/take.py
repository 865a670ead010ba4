"""Snapshot this machine's interrupt state into ``data/captures/<name>/`` (the ``tdxlib capture`` command).

What is read (relative to ``root``, ``/`` by default, so tests can point it at a fake tree):
``/proc/interrupts``, ``/proc/irq/N/{smp_affinity_list,effective_affinity_list,node}``,
``/sys/kernel/debug/irq/domains/VECTOR`` (root + debugfs + CONFIG_GENERIC_IRQ_DEBUGFS),
``/proc/version``, the CPU lists under ``/sys/devices/system/cpu``, a few identity files
(``/proc/cpuinfo`` model and hypervisor flag, DMI vendor/product, ``/sys/hypervisor/type``) and the
vector-relevant lines of the kernel config (``/proc/config.gz`` or ``/boot/config-<release>``).
Nothing else: no host name, no command line. What could not be read is recorded with the reason.
An existing capture is never overwritten unless ``force``, and then only when it is a tdxlib capture
(:func:`~tdxlib.ingest.captures.write_capture`: written beside it and swapped in).
"""

from __future__ import annotations

import datetime as _dt
import gzip
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tdxlib.data import data_path
from tdxlib.errors import CaptureParseError, TdxlibError, ValidationError
from tdxlib.ingest.affinity import format_affinity_table, read_proc_irq
from tdxlib.ingest.captures import MANIFEST, check_destination, read_manifest, write_capture
from tdxlib.ingest.procinterrupts import parse_proc_interrupts
from tdxlib.ingest.vectordump import parse_vector_dump
from tdxlib.kernel.vectors.layout import layout_names, layout_switches

#: Kernel config options recorded in the manifest (plus every kconfig switch of the shipped layouts).
CONFIG_KEYS: tuple[str, ...] = (
    "GENERIC_IRQ_DEBUGFS",
    "DEBUG_FS",
    "NR_CPUS",
    "MAXSMP",
    "X86_X2APIC",
    "X86_IO_APIC",
    "IRQ_REMAP",
    "PCI_MSI",
    "GENERIC_IRQ_EFFECTIVE_AFF_MASK",
    "HYPERVISOR_GUEST",
    "KVM_GUEST",
    "XEN",
    "HAVE_KVM",
    "TDX_GUEST_DRIVER",
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

#: Reads a file's bytes; tests replace it to simulate files only root may read.
Reader = Callable[[Path], bytes]


def _default_reader(p: Path) -> bytes:
    return p.read_bytes()


def _why(exc: OSError, path: Path, root: Path) -> str:
    rel = "/" + str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    if isinstance(exc, PermissionError):
        return f"permission denied reading {rel} (needs root)"
    if isinstance(exc, FileNotFoundError):
        return f"{rel} does not exist"
    return f"{rel}: {type(exc).__name__}: {exc.strerror or exc}"


class _Snap:
    """One capture in progress: reads files under ``root``, remembers what failed and why."""

    def __init__(self, root: Path, reader: Reader) -> None:
        self.root = root
        self.reader = reader
        self.unreadable: dict[str, str] = {}

    def path(self, abs_path: str) -> Path:
        return self.root / abs_path.lstrip("/")

    def read(self, abs_path: str, record: bool = True) -> bytes | None:
        p = self.path(abs_path)
        try:
            return self.reader(p)
        except OSError as exc:
            if record:
                self.unreadable[abs_path] = _why(exc, p, self.root)
            return None

    def text(self, abs_path: str, record: bool = True) -> str | None:
        b = self.read(abs_path, record)
        return None if b is None else b.decode("utf-8", "replace")


def _config(snap: _Snap, release: str | None) -> tuple[dict[str, str], str | None]:
    keys = set(CONFIG_KEYS)
    try:
        for name in layout_names():
            keys.update(k for k, s in layout_switches(name).items() if s.kind == "kconfig")
    except TdxlibError:  # a broken layout file must not stop a capture: record the fixed keys only
        pass
    raw: str | None = None
    source = None
    gz = snap.read("/proc/config.gz", record=False)
    if gz is not None:
        try:
            raw = gzip.decompress(gz).decode("utf-8", "replace")
            source = "/proc/config.gz"
        except (OSError, EOFError):
            raw = None
    if raw is None and release:
        raw = snap.text(f"/boot/config-{release}", record=False)
        source = f"/boot/config-{release}" if raw is not None else None
    if raw is None:
        return {}, None
    out: dict[str, str] = {}
    for line in raw.splitlines():
        m = re.fullmatch(r"CONFIG_([A-Z0-9_]+)=(.*)", line.strip())
        if m and m.group(1) in keys:
            out[f"CONFIG_{m.group(1)}"] = m.group(2).strip('"')
            continue
        m = re.fullmatch(r"# CONFIG_([A-Z0-9_]+) is not set", line.strip())
        if m and m.group(1) in keys:
            out[f"CONFIG_{m.group(1)}"] = "n"
    return dict(sorted(out.items())), source


def _machine(snap: _Snap, release: str | None) -> dict[str, Any]:
    m: dict[str, Any] = {}
    if snap.root == Path("/"):
        u = os.uname()
        m["uname"] = f"{u.sysname} {u.release} {u.version} {u.machine}"  # no node name
        m["arch"] = u.machine
        m["os_cpu_count"] = os.cpu_count()
    for key in ("online", "possible", "present"):
        t = snap.text(f"/sys/devices/system/cpu/{key}", record=False)
        if t is not None:
            m[f"cpus_{key}"] = t.strip()
    cpuinfo = snap.text("/proc/cpuinfo", record=False)
    if cpuinfo is not None:
        model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
        if model:
            m["cpu_model"] = model.group(1).strip()
        flags = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, re.M)
        if flags:
            fl = flags.group(1).split()
            m["hypervisor_flag"] = "hypervisor" in fl
            m["tdx_guest_flag"] = "tdx_guest" in fl
        m["processors_in_cpuinfo"] = len(re.findall(r"^processor\s*:", cpuinfo, re.M))
    virt: dict[str, str] = {}
    for key, path in (
        ("dmi_sys_vendor", "/sys/class/dmi/id/sys_vendor"),
        ("dmi_product_name", "/sys/class/dmi/id/product_name"),
        ("hypervisor_type", "/sys/hypervisor/type"),
    ):
        t = snap.text(path, record=False)
        if t is not None and t.strip():
            virt[key] = t.strip()
    if virt:
        m["virtualization"] = virt
    if release:
        m["release"] = release
    return m


def _vector_reason(snap: _Snap, config: dict[str, str]) -> str:
    """Why the VECTOR dump could not be read, as precisely as the tree allows."""
    dbg = snap.path("/sys/kernel/debug")
    why = snap.unreadable.get("/sys/kernel/debug/irq/domains/VECTOR", "not readable")
    if config.get("CONFIG_GENERIC_IRQ_DEBUGFS") == "n":
        return why + "; the kernel is built without CONFIG_GENERIC_IRQ_DEBUGFS, so the file never exists"
    if "permission denied" in why:
        return why + " (debugfs is root-only)"
    try:
        mounted = dbg.is_dir() and any(dbg.iterdir())
    except OSError:
        mounted = True  # cannot look inside: permission, so probably mounted
    if not mounted:
        return why + "; debugfs is not mounted at /sys/kernel/debug (mount -t debugfs none /sys/kernel/debug)"
    if not snap.path("/sys/kernel/debug/irq").exists():
        return why + "; debugfs has no irq/ directory (kernel without CONFIG_GENERIC_IRQ_DEBUGFS?)"
    return why


#: What a capture holds so far: the manifest's ``files`` entries and the bytes of each file.
_Files = tuple[dict[str, dict[str, Any]], dict[str, bytes]]


def _destination(name: str, out: str | Path | None, root: str | Path, force: bool) -> tuple[Path, Path]:
    """(capture directory, root of the tree to read), both checked."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError(
            "capture name", name, "1-64 characters of A-Z a-z 0-9 . _ - (not starting with . _ -)"
        )
    out_dir = Path(out) if out is not None else data_path("captures")
    dest = out_dir / name
    check_destination(dest, force)  # before reading anything: a name in use, or not a capture to replace
    rootp = Path(root)
    if not (rootp / "proc").is_dir():
        raise ValidationError("root", str(rootp), "a directory with a proc/ tree (/ for this machine)")
    return dest, rootp


def _take_version(snap: _Snap, got: _Files) -> tuple[str | None, str | None]:
    """``/proc/version``: (its text, the release it names)."""
    files, contents = got
    version = snap.text("/proc/version")
    release = None
    if version is not None:
        m = re.match(r"Linux version (\S+)", version)
        release = m.group(1) if m else None
        contents["version.txt"] = version.encode()
        files["version.txt"] = {"source": "/proc/version", "status": "ok"}
    else:
        files["version.txt"] = {
            "source": "/proc/version",
            "status": "unreadable",
            "reason": snap.unreadable["/proc/version"],
        }
    return version, release


def _take_interrupts(snap: _Snap, got: _Files) -> None:
    """``/proc/interrupts``, kept as read; the manifest says whether it parses."""
    files, contents = got
    raw = snap.read("/proc/interrupts")
    if raw is None:
        files["interrupts.txt"] = {
            "source": "/proc/interrupts",
            "status": "unreadable",
            "reason": snap.unreadable["/proc/interrupts"],
        }
        return
    contents["interrupts.txt"] = raw
    entry: dict[str, Any] = {"source": "/proc/interrupts", "status": "ok"}
    try:
        pi = parse_proc_interrupts(raw, "/proc/interrupts")
        entry.update({"cpus_online": len(pi.cpus), "irq_rows": len(pi.irqs), "arch_rows": len(pi.arch)})
    except CaptureParseError as exc:
        entry.update({"status": "unparsed", "reason": str(exc)})
    files["interrupts.txt"] = entry


def _take_affinity(snap: _Snap, got: _Files, notes: list[str]) -> None:
    """``/proc/irq/*/`` as one table; what could not be read is recorded per file."""
    files, contents = got
    aff_entry: dict[str, Any] = {"source": "/proc/irq/*/{smp_affinity_list,effective_affinity_list,node}"}
    try:
        affinity, problems = read_proc_irq(snap.path("/proc/irq"))
    except CaptureParseError as exc:
        affinity, problems = {}, {}
        aff_entry.update({"status": "unparsed", "reason": str(exc)})
    if "<dir>" in problems:
        aff_entry.update({"status": "unreadable", "reason": next(iter(problems["<dir>"]))})
    elif "status" not in aff_entry:
        contents["irq_affinity.txt"] = format_affinity_table(affinity).encode()
        aff_entry.update({"status": "ok" if not problems else "partial", "irqs": len(affinity)})
        if problems:
            aff_entry["unreadable"] = {k: dict(v) for k, v in problems.items()}
            if "effective_affinity_list" in problems and "missing" in problems["effective_affinity_list"]:
                notes.append(
                    "effective_affinity_list missing: kernel without "
                    "CONFIG_GENERIC_IRQ_EFFECTIVE_AFF_MASK, or "
                    "IRQs without one; placements fall back to smp_affinity_list and counts"
                )
    files["irq_affinity.txt"] = aff_entry


def _take_vector(snap: _Snap, got: _Files, config: dict[str, str]) -> None:
    """The debugfs VECTOR dump (root only), or why it could not be read."""
    files, contents = got
    vec_src = "/sys/kernel/debug/irq/domains/VECTOR"
    vec = snap.read(vec_src)
    if vec is None:
        files["VECTOR.txt"] = {
            "source": vec_src,
            "status": "unreadable",
            "reason": _vector_reason(snap, config),
        }
        return
    contents["VECTOR.txt"] = vec
    v_entry: dict[str, Any] = {"source": vec_src, "status": "ok"}
    try:
        d = parse_vector_dump(vec.decode("utf-8", "replace"), vec_src, strict=False)
        v_entry["cpus_online"] = len(d.cpus)
    except CaptureParseError as exc:
        v_entry.update({"status": "unparsed", "reason": str(exc)})
    files["VECTOR.txt"] = v_entry


def take_capture(
    name: str,
    out: str | Path | None = None,
    *,
    root: str | Path = "/",
    force: bool = False,
    description: str | None = None,
    reader: Reader | None = None,
    now: _dt.datetime | None = None,
) -> Path:
    """Snapshot the machine under ``root`` into ``out/name`` (default ``data/captures/name``); returns it."""
    dest, rootp = _destination(name, out, root, force)
    snap = _Snap(rootp, reader or _default_reader)
    got: _Files = ({}, {})
    notes: list[str] = []
    version, release = _take_version(snap, got)
    config, config_source = _config(snap, release)
    _take_interrupts(snap, got)
    _take_affinity(snap, got, notes)
    _take_vector(snap, got, config)
    machine = _machine(snap, release)
    stamp = (now or _dt.datetime.now(_dt.UTC)).replace(microsecond=0)
    manifest: dict[str, Any] = {
        "format": 1,
        "name": name,
        "constructed": False,
        "description": description or "taken with `tdxlib capture`",
        "date": stamp.isoformat(),
        "as_root": os.geteuid() == 0 if hasattr(os, "geteuid") else None,
        "root": str(rootp),
        "kernel": {"release": release, "version": (version or "").strip() or None},
        "machine": machine,
        "config_source": config_source,
        "config": config,
        "files": got[0],
        "notes": notes,
    }
    _write(dest, got[1], manifest, force)
    return dest


def _write(dest: Path, contents: dict[str, bytes], manifest: dict[str, Any], force: bool) -> None:
    """The capture's files and manifest, written beside ``dest`` and swapped in (see write_capture)."""
    text = yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False, width=110, allow_unicode=True)
    write_capture(
        dest, contents, "# tdxlib capture manifest (format: data/captures/README.md)\n" + text, force=force
    )


def describe_capture(path: Path) -> str:
    """A few lines saying what a capture holds and what could not be read (printed by the CLI)."""
    man = read_manifest(path / MANIFEST)
    lines = [f"capture written to {path}"]
    k = man.get("kernel") or {}
    mach = man.get("machine") or {}
    lines.append(
        f"  kernel {k.get('release')}, CPUs online {mach.get('cpus_online', '?')}, "
        f"as root: {man.get('as_root')}"
    )
    for fname, entry in (man.get("files") or {}).items():
        status = entry.get("status")
        extra = f" - {entry['reason']}" if entry.get("reason") else ""
        if entry.get("unreadable"):
            extra += f" - unreadable: {entry['unreadable']}"
        lines.append(f"  {fname:<17} {status}{extra}")
    return "\n".join(lines)
