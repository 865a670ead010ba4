"""tdxlib.ingest.captures: the shipped captures load, exact and estimated agree."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from ingest_samples import REAL

from tdxlib.data import data_path
from tdxlib.errors import CaptureParseError, DataError
from tdxlib.ingest import procinterrupts
from tdxlib.ingest.captures import capture_names, load_capture
from tdxlib.ingest.synth import SERVERS


def test_shipped_captures_load() -> None:
    names = capture_names()
    assert REAL in names and all(s.name in names for s in SERVERS)
    real = load_capture(REAL)
    assert (
        not real.constructed and real.vector_dump is None and (real.kernel_release or "").startswith("6.18")
    )
    load = real.load()
    assert load.kind == "estimated" and load.layout == "linux-6.12"
    assert load.allocated.sum() == len([r for r in real.interrupts.irqs if r.actions])  # type: ignore[union-attr]
    for s in SERVERS:
        cap = load_capture(s.name)
        assert cap.constructed and cap.vector_dump is not None and cap.ncpus == s.ncpus
        exact = cap.load()
        assert exact.exact and exact.alloc_end == 0xEB
        # the estimate from /proc/interrupts + affinities agrees with the allocator's own counters
        est = cap.load(exact=False)
        assert np.array_equal(est.allocated, exact.allocated) and np.array_equal(est.managed, exact.managed)


# --- issue 15: every file of a capture read with the bounded reader; the manifest has a model -----------


def _copy(tmp_path: Path) -> Path:
    dest = tmp_path / "cap"
    shutil.copytree(data_path("captures", REAL), dest)
    return dest


def test_a_non_utf8_affinity_table_is_a_clear_error(tmp_path: Path) -> None:
    """A non-UTF-8 irq_affinity.txt raised UnicodeDecodeError."""
    cap = _copy(tmp_path)
    (cap / "irq_affinity.txt").write_bytes(b"24 0-1 0 0\n25 \xff\xfe 0 0\n")
    with pytest.raises(CaptureParseError, match=r"not UTF-8 text") as exc:
        load_capture(cap)
    assert (exc.value.path, exc.value.line) == (cap / "irq_affinity.txt", 2)


def test_a_gzip_bomb_is_refused_at_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cap = _copy(tmp_path)
    (cap / "interrupts.txt").unlink()
    (cap / "interrupts.txt.gz").write_bytes(gzip.compress(b"0" * (4 << 20), mtime=0))
    monkeypatch.setattr(procinterrupts, "MAX_BYTES", 1 << 20)
    with pytest.raises(CaptureParseError, match="decompresses to more than 1 MiB"):
        load_capture(cap)
    (cap / "interrupts.txt.gz").write_bytes(b"\x1f\x8b not gzip")
    with pytest.raises(CaptureParseError, match="not gzip data"):
        load_capture(cap)


@pytest.mark.parametrize(
    ("line", "field"),
    [("format: 2", "format"), ("constructed: maybe", "constructed"), ("notes: 5", "notes")],
)
def test_a_bad_manifest_names_file_line_and_field(tmp_path: Path, line: str, field: str) -> None:
    cap = _copy(tmp_path)
    text = (cap / "manifest.yaml").read_text().replace("format: 1\n", "format: 1\n" + line + "\n", 1)
    key = line.split(":")[0]
    text = "\n".join(s for s in text.splitlines() if not (s.startswith(key + ":") and s != line)) + "\n"
    (cap / "manifest.yaml").write_text(text)
    with pytest.raises(DataError) as exc:
        load_capture(cap)
    assert exc.value.field == field and exc.value.line == text.splitlines().index(line) + 1
