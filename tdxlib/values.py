"""What a value in a file or an argument may be: the strict field types every tdxlib model uses.

Strict, because a file is data, not a guess: a YAML ``"8"`` is not an int, ``"no"`` is not false,
``250.0`` is not the HZ ``250``, a timestamp is not a date. Numbers are finite. :class:`AnyOf` makes a
union one clear error, :class:`Choices` and :class:`Pattern` say what is allowed in words, and
:func:`field_error` points a rule between fields at its field. :mod:`tdxlib.models` builds on these.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import Annotated, Any

import pydantic
from pydantic import AllowInfNan, BeforeValidator, Strict, StringConstraints
from pydantic_core import PydanticCustomError, core_schema

__all__ = ["AnyOf", "Bool", "Choices", "Date", "Float", "Int", "Pattern", "Str", "Text", "field_error"]

#: Numpy scalars given in Python are taken as the Python values they hold (tdxlib.models._python).

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict(), AllowInfNan(False)]  # an int is a number; nan and inf are not
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Text = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=1)]


def _date(value: Any) -> Any:
    """A date: a YAML date or an ISO ``YYYY-MM-DD`` string; never a timestamp, a number or a datetime."""
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            pass
    elif type(value) is datetime.date:
        return value
    raise PydanticCustomError("date_type", "not a date (YYYY-MM-DD)")


Date = Annotated[datetime.date, Strict(), BeforeValidator(_date)]


class AnyOf:
    """Annotate a union so a bad value is one error saying what is allowed (``message``), not one error
    per member of the union with pydantic's internal names in its location."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __get_pydantic_core_schema__(
        self, source: Any, handler: pydantic.GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema: Any = handler(source)  # a TypedDict per schema type, looked at as a plain dict
        union = schema["schema"] if schema["type"] == "nullable" else schema
        if union["type"] == "union":
            union["custom_error_type"] = "tdxlib_choice"
            union["custom_error_message"] = self.message
        return schema


class _Rule:
    """Base of the annotations below: ``_check`` runs after the type's own validation, and the JSON
    Schema gains ``_schema_extra()``."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: pydantic.GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: pydantic.GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {**handler(schema), **self._schema_extra()}

    def _check(self, value: Any) -> Any:
        raise NotImplementedError

    def _schema_extra(self) -> dict[str, Any]:
        raise NotImplementedError


class Pattern(_Rule):
    """Annotate a ``Str`` so it must match ``regex``; the error says what that means (``description``)
    instead of printing the regular expression. The JSON Schema carries the pattern."""

    def __init__(self, regex: str, description: str) -> None:
        self.regex = re.compile(regex)
        self.description = description

    def _schema_extra(self) -> dict[str, Any]:
        return {"pattern": self.regex.pattern, "description": self.description}

    def _check(self, value: Any) -> Any:
        if not self.regex.fullmatch(value):
            raise PydanticCustomError("tdxlib_choice", self.description)
        return value


class Choices(_Rule):
    """Annotate a strict scalar (``Int``, ``Str``) so only ``values`` are allowed: unlike a ``Literal``,
    ``250.0`` or ``"250"`` is not taken for ``250``. The JSON Schema lists them as an ``enum``."""

    def __init__(self, values: Sequence[Any], note: str = "") -> None:
        self.values = tuple(values)
        self.message = "one of " + ", ".join(repr(v) for v in self.values) + (f" ({note})" if note else "")

    def _schema_extra(self) -> dict[str, Any]:
        return {"enum": list(self.values)}

    def _check(self, value: Any) -> Any:
        if value not in self.values:
            raise PydanticCustomError("tdxlib_choice", self.message)
        return value


def field_error(message: str, *subloc: str | int) -> PydanticCustomError:
    """A validation error whose location continues with ``subloc`` below the model raising it (a rule
    between fields points at the field it is about)."""
    return PydanticCustomError("tdxlib_field", "{message}", {"message": message, "subloc": list(subloc)})
