"""A throwaway report project for the report tests: notebooks copied into ``tmp_path/notebooks`` beside
a ``reports.yaml``."""

from __future__ import annotations

import shutil
from pathlib import Path

from paths import FIXTURES


def project(tmp_path: Path, yaml_text: str, notebooks: Path = FIXTURES) -> Path:
    """The ``*.ipynb`` of ``notebooks`` (default: the fixture notebooks) and ``yaml_text`` as
    reports.yaml under ``tmp_path/notebooks``; returns the reports.yaml path."""
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir(parents=True, exist_ok=True)
    for nb in notebooks.glob("*.ipynb"):
        shutil.copy(nb, nb_dir / nb.name)
    cfg = nb_dir / "reports.yaml"
    cfg.write_text(yaml_text, encoding="utf-8")
    return cfg
