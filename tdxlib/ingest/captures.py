"""A capture directory (``data/captures/<name>/``, written by ``tdxlib capture``): read back into models,
and written safely.

A capture holds ``manifest.yaml``, ``interrupts.txt`` (or ``interrupts.txt.gz``), ``irq_affinity.txt``
and, when debugfs was readable, ``VECTOR.txt``; the format is described in data/captures/README.md and
the manifest's shape is :class:`CaptureManifest` (``tdxlib schema capture-manifest``). Every file is
read with the bounded reader (a non-UTF-8 or oversized file is a DataError naming it).
:func:`write_capture` writes one beside its place and swaps it in, and replaces only a folder that is
a tdxlib capture: anything else is refused, even with ``force``, naming what is there.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue

from tdxlib import files
from tdxlib.data import data_path, is_file, load_yaml, read_text
from tdxlib.errors import CaptureParseError, DataError, TdxlibError, ValidationError
from tdxlib.ingest.affinity import IrqAffinity, parse_affinity_table, parse_cpulist
from tdxlib.ingest.dumpload import load_from_dump
from tdxlib.ingest.estimate import DEFAULT_MANAGED_PATTERNS, ManagedSpec, estimate_load
from tdxlib.ingest.kernel_layout import layout_config_from_kernel_config, layout_for_kernel
from tdxlib.ingest.procinterrupts import ProcInterrupts, read_proc_interrupts
from tdxlib.ingest.vectordump import VectorDump, parse_vector_dump
from tdxlib.ingest.vectorload import VectorLoad
from tdxlib.kernel.vectors.layout import VectorLayout, load_layout
from tdxlib.models import Model, schema_comment, validate
from tdxlib.values import Bool, Int, Str

#: File names inside a capture directory.
INTERRUPTS = "interrupts.txt"
AFFINITY = "irq_affinity.txt"
VECTOR = "VECTOR.txt"
VERSION = "version.txt"
MANIFEST = "manifest.yaml"
#: The largest VECTOR dump or affinity table read (8192 CPUs take a few MiB).
MAX_TABLE_BYTES = 64 * 1024 * 1024
#: The first line of a manifest: its schema, relative to data/captures/NAME/.
MANIFEST_SCHEMA_LINE = schema_comment("../../schemas/capture-manifest.json")

Count = Annotated[Int, Field(ge=0)]


class CapturedFile(Model):
    """``files.NAME`` of a manifest: where a file came from, whether it was read, and what it held."""

    source: Str
    status: Literal["ok", "partial", "unreadable", "unparsed"]
    reason: Str | None = None
    cpus_online: Count | None = None
    irq_rows: Count | None = None
    arch_rows: Count | None = None
    irqs: Count | None = None
    stored_as: Str | None = None
    unreadable: dict[Str, dict[Str, Count]] | None = None


class KernelFacts(Model):
    """``kernel``: ``uname -r`` and ``/proc/version`` of the captured machine."""

    release: Str | None = None
    version: Str | None = None


class CaptureManifest(Model):
    """``manifest.yaml`` of a capture (written by ``tdxlib capture`` or, ``constructed``, by tdxlib)."""

    format: Literal[1] = 1
    name: Annotated[Str, Field(min_length=1)]
    constructed: Bool = False
    description: Str = ""
    date: Str | None = None
    as_root: Bool | None = None
    root: Str | None = None
    constructed_by: Str | None = None
    how: Str | None = None
    parameters: dict[Str, JsonValue] | None = None
    kernel: KernelFacts = KernelFacts()
    machine: dict[Str, JsonValue] = Field(default_factory=dict)
    config_source: Str | None = None
    config: dict[Str, Str | Int] = Field(default_factory=dict)
    files: dict[Str, CapturedFile] = Field(default_factory=dict)
    notes: list[Str] = Field(default_factory=list)


def captures_dir() -> Path:
    """``data/captures``: where shipped captures live."""
    return data_path("captures")


def capture_names() -> list[str]:
    """Names of the shipped captures (directories with a manifest under data/captures)."""
    d = captures_dir()
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if (p / MANIFEST).is_file())


def resolve_capture(name_or_path: str | Path) -> Path:
    """A capture directory from a shipped name (``"vm-2cpu-linux-6.18"``) or a path."""
    if isinstance(name_or_path, Path) or "/" in str(name_or_path) or str(name_or_path).startswith("."):
        p = Path(name_or_path)
        if is_file(p / MANIFEST):
            return p
        raise ValidationError("capture path", str(p), f"a directory holding {MANIFEST}")
    if not isinstance(name_or_path, str) or not name_or_path:
        raise ValidationError("capture", name_or_path, f"one of {', '.join(capture_names())} or a path")
    p = captures_dir() / name_or_path
    if is_file(p / MANIFEST):
        return p
    raise ValidationError(
        "capture", name_or_path, f"one of {', '.join(capture_names()) or '(none)'} or a path"
    )


@dataclass(frozen=True, eq=False)
class Capture:
    """A loaded capture: manifest, parsed /proc/interrupts, affinities and (if present) VECTOR dump."""

    name: str
    path: Path
    manifest: Mapping[str, Any]
    interrupts: ProcInterrupts | None
    affinity: dict[int, IrqAffinity] | None
    vector_dump: VectorDump | None

    @property
    def constructed(self) -> bool:
        """True for captures built by tdxlib (documented server examples), False for real machines."""
        return bool(self.manifest.get("constructed", False))

    @property
    def kernel_release(self) -> str | None:
        """``uname -r`` of the captured machine, if recorded."""
        k = self.manifest.get("kernel")
        return str(k.get("release")) if isinstance(k, Mapping) and k.get("release") else None

    @property
    def config(self) -> dict[str, str]:
        """Captured ``CONFIG_*`` values (``y``/``m``/``n``/number) relevant to vectors."""
        c = self.manifest.get("config")
        return {str(k): str(v) for k, v in c.items()} if isinstance(c, Mapping) else {}

    @property
    def ncpus(self) -> int | None:
        """Possible CPUs of the captured machine (highest possible CPU + 1), if recorded."""
        m = self.manifest.get("machine")
        if isinstance(m, Mapping) and m.get("cpus_possible"):
            cpus = parse_cpulist(str(m["cpus_possible"]))
            return max(cpus) + 1 if cpus else None
        return None

    def load(
        self,
        layout: VectorLayout | str | None = None,
        *,
        exact: bool | None = None,
        managed: ManagedSpec = DEFAULT_MANAGED_PATTERNS,
    ) -> VectorLoad:
        """The VectorLoad: exact from VECTOR.txt if present (unless ``exact=False``), else estimated.

        For estimates, ``layout`` defaults to the shipped layout closest below the captured kernel,
        with switches set from the captured kernel config and the arch rows of /proc/interrupts.
        """
        ncpus = self.ncpus
        if self.vector_dump is not None and exact is not False:
            top = int(self.vector_dump.cpus.max())
            return load_from_dump(
                self.vector_dump, layout=layout, ncpus=ncpus if ncpus and ncpus > top else None
            )
        if exact:
            raise DataError("no VECTOR.txt in this capture: only an estimated load is possible", self.path)
        if self.interrupts is None:
            raise DataError(f"neither {VECTOR} nor {INTERRUPTS} in this capture", self.path)
        notes: list[str] = []
        if layout is None:
            name, why = layout_for_kernel(self.kernel_release)
            notes.append(why)
            overrides, more = layout_config_from_kernel_config(
                name, self.config, (a.name for a in self.interrupts.arch)
            )
            notes.extend(more)
            lay: VectorLayout | str = load_layout(name, **overrides)
        else:
            lay = layout
        top = int(self.interrupts.cpus.max())
        est = estimate_load(
            self.interrupts,
            self.affinity,
            lay,
            ncpus=ncpus if ncpus and ncpus > top else None,
            managed=managed,
            kernel=self.kernel_release,
        )
        if notes:
            est = replace(est, notes=tuple(notes) + est.notes)
        return est


def read_manifest(path: Path) -> Mapping[str, Any]:
    """A capture's manifest.yaml as read (a mapping with lines), validated as a :class:`CaptureManifest`."""
    raw = load_yaml(path)
    validate(CaptureManifest, raw, path, what="a capture manifest")
    return raw


def _table(path: Path, what: str) -> str:
    try:
        return read_text(path, limit=MAX_TABLE_BYTES, what=what)
    except DataError as exc:
        raise CaptureParseError(exc.message, exc.path, exc.line) from None


def load_capture(name_or_path: str | Path) -> Capture:
    """Load a capture by shipped name or path; malformed files raise CaptureParseError naming the line."""
    p = resolve_capture(name_or_path)
    manifest = read_manifest(p / MANIFEST)
    interrupts = None
    for fname in (INTERRUPTS, INTERRUPTS + ".gz"):
        if (p / fname).is_file():
            interrupts = read_proc_interrupts(p / fname)
            break
    affinity = None
    if (p / AFFINITY).is_file():
        affinity = parse_affinity_table(_table(p / AFFINITY, "affinity table"), p / AFFINITY)
    dump = None
    if (p / VECTOR).is_file():
        dump = parse_vector_dump(_table(p / VECTOR, "VECTOR dump"), p / VECTOR, strict=False)
    if interrupts is None and dump is None:
        raise DataError(f"capture has neither {INTERRUPTS} nor {VECTOR}", p)
    return Capture(str(manifest.get("name", p.name)), p, manifest, interrupts, affinity, dump)


# --------------------------------------------------------------------------------------------------
# Writing: one way, and never over what is not a capture
# --------------------------------------------------------------------------------------------------


def _not_a_capture(dest: Path) -> str | None:
    """Why ``dest`` is not a capture tdxlib may replace (what is there), or None when it is one."""
    if dest.is_symlink() or not dest.is_dir():
        return "a symbolic link" if dest.is_symlink() else "a file"
    entries = sorted(p.name for p in dest.iterdir())
    if MANIFEST not in entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        return f"a folder without {MANIFEST} (it holds {shown or 'nothing'})"
    try:
        read_manifest(dest / MANIFEST)
    except TdxlibError as exc:
        return f"a folder whose {MANIFEST} is not a tdxlib capture manifest ({exc})"
    return None


def check_destination(dest: Path, force: bool) -> None:
    """Refuse to write a capture to ``dest`` unless it is new, or ``force`` and it is a tdxlib capture."""
    if dest.parent.exists() and not dest.parent.is_dir():
        raise DataError("is not a directory: cannot hold a capture", dest.parent)
    if not (dest.exists() or dest.is_symlink()):
        return
    if not force:
        raise ValidationError(
            "capture name", dest.name, f"a name not yet used in {dest.parent} (or pass --force)"
        )
    why = _not_a_capture(dest)
    if why is not None:
        raise DataError(f"is {why}; not replaced, even with --force (move it away first)", dest)


def write_capture(dest: Path, contents: Mapping[str, bytes], manifest_text: str, *, force: bool) -> Path:
    """Write a capture folder beside ``dest`` and swap it in (:func:`tdxlib.files.replace_dir`); an
    existing ``dest`` is replaced only with ``force`` and only when it is a tdxlib capture."""
    check_destination(dest, force)
    tmp = files.temp_dir_beside(dest)
    try:
        tmp.chmod(0o755)
        for fname, data in contents.items():
            (tmp / fname).write_bytes(data)
        (tmp / MANIFEST).write_text(MANIFEST_SCHEMA_LINE + "\n" + manifest_text, encoding="utf-8")
        check_destination(dest, force)  # again: something may have appeared there meanwhile
        files.replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
