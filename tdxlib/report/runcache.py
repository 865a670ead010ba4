"""The report cache: a run is re-executed only when what it depends on changed.

A run's inputs are its notebook's cells (types and sources, not outputs), its parameters, the tdxlib
source (``tdxlib/**/*.py``), the data (``data/**``), the kernel name and the pipeline's own format
version. Their hashes and the run's result live in ``<out>/.cache/<run>.json``; hashing is plain
hashlib over small files, so a no-op build stays well under a second.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tdxlib.cache import hash_tree
from tdxlib.files import atomic_write_text

__all__ = [
    "PIPELINE_VERSION",
    "cache_key",
    "cache_path",
    "changed_inputs",
    "hash_json",
    "hash_notebook",
    "hash_tree",
    "read_record",
    "run_inputs",
    "write_record",
]

#: Bump when what a run produces changes shape, so old caches are not trusted.
PIPELINE_VERSION = 1


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_notebook(nb: Mapping[str, Any]) -> str:
    """Hash of a notebook's cell types and sources (outputs and metadata do not matter)."""
    cells = []
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        cells.append([cell.get("cell_type"), "".join(src) if isinstance(src, list) else src])
    return _sha(json.dumps(cells, ensure_ascii=False).encode())


def hash_json(value: Any) -> str:
    """Hash of a JSON-able value in canonical form."""
    return _sha(json.dumps(value, sort_keys=True, ensure_ascii=False).encode())


def run_inputs(
    nb_hash: str, parameters: Mapping[str, Any], source_hash: str, data_hash: str, kernel: str
) -> dict[str, Any]:
    """The named inputs of one run (what the cache key is made of)."""
    return {
        "pipeline": PIPELINE_VERSION,
        "notebook": nb_hash,
        "parameters": hash_json(dict(parameters)),
        "tdxlib": source_hash,
        "data": data_hash,
        "kernel": kernel,
    }


def cache_key(inputs: Mapping[str, Any]) -> str:
    """The single key of a run's inputs."""
    return hash_json(dict(inputs))


def changed_inputs(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """Names of the inputs that differ (all of them when there is no previous record)."""
    if not old:
        return ["no previous run"]
    return [k for k in new if old.get(k) != new[k]]


def cache_path(out: Path, run: str) -> Path:
    """Where the cache record of ``run`` lives."""
    return out / ".cache" / f"{run}.json"


def read_record(out: Path, run: str) -> dict[str, Any] | None:
    """The cache record of ``run``, or None when absent or unreadable."""
    try:
        data = json.loads(cache_path(out, run).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_record(out: Path, run: str, record: Mapping[str, Any]) -> None:
    """Store the cache record of ``run`` atomically."""
    atomic_write_text(cache_path(out, run), json.dumps(record, indent=1, sort_keys=True) + "\n")
