"""Where sweeps are: the shipped specs (``data/sweeps/``), a spec named or given by path, and a result
folder's manifest. Light (the YAML reader and json only): the report's index and the notebooks'
parameter models read these without loading the simulator, pandas or dask.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tdxlib.data import data_path
from tdxlib.errors import DataError

__all__ = ["MANIFEST", "read_manifest", "spec_names", "spec_path"]

#: The manifest's file name in a result folder.
MANIFEST = "sweep.json"


def spec_path(name: str | Path) -> Path:
    """A shipped spec's file (``data/sweeps/NAME.yaml``) or the path given."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or len(p.parts) > 1:
        return p
    return data_path("sweeps", f"{name}.yaml")


def spec_names() -> list[str]:
    """The shipped sweeps (``data/sweeps/*.yaml``)."""
    return sorted(p.stem for p in data_path("sweeps").glob("*.yaml"))


def read_manifest(out: str | Path) -> dict[str, Any]:
    """The manifest of a result folder (its spec as plain data, code key, cells, columns); a DataError
    naming it when there is none."""
    path = Path(out) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("not a sweep result (no sweep.json): see `tdxlib sweep --help`", path) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable sweep manifest: {exc}", path) from None
    if not isinstance(data, dict) or "spec" not in data:
        raise DataError("not a sweep manifest (no 'spec')", path)
    return data
