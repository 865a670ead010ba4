"""Read a capture directory (``data/captures/<name>/``, written by ``tdxlib capture``) back into models.

A capture holds ``manifest.yaml``, ``interrupts.txt`` (or ``interrupts.txt.gz``), ``irq_affinity.txt``
and, when debugfs was readable, ``VECTOR.txt``; the format is described in data/captures/README.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tdxlib.data import data_path, load_yaml
from tdxlib.errors import CaptureParseError, DataError, ValidationError
from tdxlib.ingest.affinity import IrqAffinity, parse_affinity_table, parse_cpulist
from tdxlib.ingest.dumpload import load_from_dump
from tdxlib.ingest.estimate import DEFAULT_MANAGED_PATTERNS, ManagedSpec, estimate_load
from tdxlib.ingest.kernel_layout import layout_config_from_kernel_config, layout_for_kernel
from tdxlib.ingest.procinterrupts import ProcInterrupts, read_proc_interrupts
from tdxlib.ingest.vectordump import VectorDump, parse_vector_dump
from tdxlib.ingest.vectorload import VectorLoad
from tdxlib.kernel.vectors.layout import VectorLayout, load_layout

#: File names inside a capture directory.
INTERRUPTS = "interrupts.txt"
AFFINITY = "irq_affinity.txt"
VECTOR = "VECTOR.txt"
VERSION = "version.txt"
MANIFEST = "manifest.yaml"


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
        if (p / MANIFEST).is_file():
            return p
        raise ValidationError("capture path", str(p), f"a directory holding {MANIFEST}")
    if not isinstance(name_or_path, str) or not name_or_path:
        raise ValidationError("capture", name_or_path, f"one of {', '.join(capture_names())} or a path")
    p = captures_dir() / name_or_path
    if (p / MANIFEST).is_file():
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


def load_capture(name_or_path: str | Path) -> Capture:
    """Load a capture by shipped name or path; malformed files raise CaptureParseError naming the line."""
    p = resolve_capture(name_or_path)
    manifest = load_yaml(p / MANIFEST)
    if not isinstance(manifest, Mapping):
        raise DataError("manifest is not a mapping", p / MANIFEST, 1)
    interrupts = None
    for fname in (INTERRUPTS, INTERRUPTS + ".gz"):
        if (p / fname).is_file():
            interrupts = read_proc_interrupts(p / fname)
            break
    affinity = None
    if (p / AFFINITY).is_file():
        affinity = parse_affinity_table((p / AFFINITY).read_text(encoding="utf-8"), p / AFFINITY)
    dump = None
    if (p / VECTOR).is_file():
        try:
            text = (p / VECTOR).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CaptureParseError("not UTF-8 text", p / VECTOR, None) from None
        dump = parse_vector_dump(text, p / VECTOR, strict=False)
    if interrupts is None and dump is None:
        raise DataError(f"capture has neither {INTERRUPTS} nor {VECTOR}", p)
    return Capture(str(manifest.get("name", p.name)), p, manifest, interrupts, affinity, dump)
