"""``tdxlib schema``: every file kind's JSON Schema, shipped and current; every shipped YAML file names
its schema on its first line (editors validate it as the user types) and still loads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from paths import ROOT

from tdxlib import models
from tdxlib.cli import main
from tdxlib.cli.schema import KINDS, schema_of
from tdxlib.data import DATA_DIR


def _shipped_yaml() -> list[Path]:
    return sorted([*DATA_DIR.rglob("*.yaml"), ROOT / "notebooks" / "reports.yaml"])


def _kind_of(path: Path) -> list[str]:
    rel = path.relative_to(ROOT)
    return [k.name for k in KINDS if k.holds(rel)]


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_the_shipped_schema_is_current(kind: object) -> None:
    path = DATA_DIR / kind.schema  # type: ignore[attr-defined]
    assert path.read_text(encoding="utf-8") == schema_of(kind), "run: tdxlib schema --update"  # type: ignore[arg-type]


@pytest.mark.parametrize("path", _shipped_yaml(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_yaml_file_names_its_schema_and_loads(path: Path) -> None:
    (name,) = _kind_of(path)  # exactly one kind
    kind = next(k for k in KINDS if k.name == name)
    relative = os.path.relpath(DATA_DIR / kind.schema, path.parent)
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == models.schema_comment(relative)
    assert (path.parent / relative).is_file()
    models.load(kind.load_model(), path)


def test_tdxlib_schema_prints_lists_writes_and_checks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["schema"]) == 0
    listed = capsys.readouterr().out
    assert all(k.name in listed for k in KINDS)
    assert main(["schema", "scenario"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$id"].endswith("data/schemas/scenario.json") and "hz" in schema["properties"]
    out = tmp_path / "s.json"
    out.write_text("mine\n")
    assert main(["schema", "scenario", "--out", str(out)]) == 1
    assert "--force" in capsys.readouterr().err and out.read_text() == "mine\n"
    assert main(["schema", "scenario", "--out", str(out), "--force"]) == 0
    assert json.loads(out.read_text()) == schema
    assert main(["schema", "--check"]) == 0
