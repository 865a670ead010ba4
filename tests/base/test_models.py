"""tdxlib.models: a pydantic model validates a YAML file; errors name file, line, field and the value."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pydantic
import pytest

from tdxlib import models
from tdxlib.errors import DataError


class Inner(models.Model):
    vector: int = pydantic.Field(ge=32, le=255)


class Outer(models.Model):
    name: str
    kind: Literal["a", "b"] = "a"
    items: tuple[Inner, ...] = ()


def test_a_valid_file_gives_a_frozen_model(tmp_path: Path) -> None:
    f = tmp_path / "ok.yaml"
    f.write_text("name: x\nitems:\n  - vector: 32\n")
    m = models.load(Outer, f)
    assert m.items[0].vector == 32 and hash(m) == hash(models.load(Outer, f))
    with pytest.raises(pydantic.ValidationError):
        m.name = "y"  # type: ignore[misc]


def test_an_out_of_range_value_names_file_line_field_and_value(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\nitems:\n  - vector: 32\n  - vector: 300\n")
    with pytest.raises(DataError) as info:
        models.load(Outer, f)
    err = info.value
    assert (err.path, err.line, err.field) == (f, 4, "items[1].vector")
    assert "300" in str(err) and "255" in str(err)


def test_an_unknown_field_lists_the_known_ones() -> None:
    data = {"name": "x", "colour": 1}
    with pytest.raises(DataError, match=r"unknown field; expected one of items, kind, name"):
        models.validate(Outer, data, "f.yaml")


def test_a_missing_field_and_a_wrong_choice() -> None:
    with pytest.raises(DataError, match=r"name: missing \(required\)"):
        models.validate(Outer, {"kind": "a"}, "f.yaml")
    with pytest.raises(DataError, match=r"kind: .*'c'"):
        models.validate(Outer, {"name": "x", "kind": "c"}, "f.yaml")


def test_not_a_mapping() -> None:
    with pytest.raises(DataError, match="must be a mapping of fields, got an empty file"):
        models.validate(Outer, None, "f.yaml")
    with pytest.raises(DataError, match="got list"):
        models.validate(Outer, [1], "f.yaml")


def test_many_errors_are_counted_not_listed() -> None:
    data = {"name": "x", "items": [{"vector": 1}] * 500}
    with pytest.raises(pydantic.ValidationError) as info:
        Outer.model_validate(data)
    errors = models.errors_of(Outer, info.value, data, "f.yaml")
    assert len(errors) == models.MAX_ERRORS + 1
    assert "480 more errors" in str(errors[-1])
    with pytest.raises(DataError, match=r"\(and 499 more errors\)"):
        models.validate(Outer, data, "f.yaml")


def test_json_schema_has_the_bounds() -> None:
    schema = models.json_schema(Outer)
    assert schema["$defs"]["Inner"]["properties"]["vector"]["maximum"] == 255
