"""tdxlib.models: a pydantic model validates a YAML file; errors name file, line, field and the value."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pydantic
import pytest

from tdxlib import models
from tdxlib.errors import DataError, ValidationError


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


# --- entry points: a bad Python value is a ValidationError naming the argument ----------------------


class Api(models.ApiModel):
    cpus: Annotated[models.Int, pydantic.Field(ge=1, le=8192)] = 8
    hz: Literal[100, 250, 300, 1000] = 250
    rate: Annotated[models.Float, pydantic.Field(gt=0)] = 1.0
    service: Annotated[models.Float, pydantic.Field(ge=0)] | None = None
    extra_jiffy: models.Bool = True
    ids: Annotated[
        Literal["identity"] | tuple[models.Int, ...], models.AnyOf("'identity' or a list of IDs")
    ] = "identity"


@pytest.mark.parametrize(
    ("kwargs", "what", "allowed"),
    [
        ({"cpus": 0}, "cpus", "an integer in 1..8192"),
        ({"cpus": "8"}, "cpus", "an integer in 1..8192"),
        ({"cpus": 8.0}, "cpus", "an integer in 1..8192"),
        ({"hz": 7}, "hz", "one of 100, 250, 300 or 1000"),
        ({"rate": float("nan")}, "rate", "a finite number > 0"),
        ({"service": -1}, "service", "a finite number >= 0 or None"),
        ({"extra_jiffy": "no"}, "extra_jiffy", "true or false"),
        ({"ids": ["a", "b"]}, "ids", "'identity' or a list of IDs"),
        ({"bogus": 1}, "bogus", "one of cpus, extra_jiffy, hz, ids, rate, service"),
    ],
)
def test_a_bad_argument_names_itself_the_value_and_what_is_allowed(
    kwargs: dict[str, object], what: str, allowed: str
) -> None:
    with pytest.raises(ValidationError) as info:
        Api(**kwargs)
    assert (info.value.what, info.value.allowed) == (what, allowed)
    assert repr(info.value.value) == repr(next(iter(kwargs.values())))


def test_numpy_integers_are_integers_and_files_still_get_data_errors() -> None:
    import numpy as np

    assert type(Api(cpus=np.int64(4)).cpus) is int
    with pytest.raises(DataError, match=r"f.yaml: hz: Input should be 100, 250, 300 or 1000, got 7"):
        models.validate(Api, {"hz": 7}, "f.yaml")
    with pytest.raises(ValidationError, match="hz = 7"):
        models.build(Api, {"hz": 7})


class Rule(models.ApiModel):
    low: models.Int = 0
    high: models.Int = 1

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> Rule:
        if self.high < self.low:
            raise ValidationError("high", self.high, f">= low ({self.low})")
        return self


def test_a_rule_between_fields_points_at_its_field(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"high = 1 is not allowed; expected >= low \(5\)"):
        Rule(low=5)
    f = tmp_path / "rule.yaml"
    f.write_text("low: 5\nhigh: 1\n")
    with pytest.raises(DataError) as info:
        models.load(Rule, f)
    assert (info.value.line, info.value.field) == (2, "high")
    assert str(info.value).endswith("rule.yaml:2: high: 1 is not allowed; expected >= low (5)")


@models.api_dataclass
@pydantic.dataclasses.dataclass(frozen=True)
class Pair:
    a: models.Int
    b: models.Str = "x"


def test_a_pydantic_dataclass_constructor_and_replace_raise_validation_error() -> None:
    import dataclasses

    p = Pair(1)
    with pytest.raises(ValidationError, match="a = 'one'"):
        Pair("one")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="b = 2"):
        dataclasses.replace(p, b=2)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"p.yaml: a: missing \(required\)"):
        models.validate(Pair, {"b": "y"}, "p.yaml")
    assert '"a"' in models.schema_text(Pair, "x") and models.json_schema(Pair)["required"] == ["a"]
