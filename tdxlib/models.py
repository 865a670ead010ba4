"""One validation approach: pydantic models for every file kind and every entry point that takes user values.

A file tdxlib reads is parsed by :func:`tdxlib.data.load_yaml` (which keeps the line of every key and
item) and validated by a pydantic model; :func:`validate` walks each pydantic error's location through
those lines, so the :class:`~tdxlib.errors.DataError` says ``file:line: field: what is wrong, got
X``. :class:`Model` is the frozen, closed base (unknown fields are errors that list the known ones);
:class:`ApiModel` (and :func:`api_dataclass` for a pydantic dataclass) is the same for values given
in Python: a bad one is a :class:`~tdxlib.errors.ValidationError` naming the argument, the value and
what is allowed. :func:`json_schema` is what ``tdxlib schema KIND`` prints and editors validate against.
The strict field types the models use live in :mod:`tdxlib.values` (re-exported here).
"""

from __future__ import annotations

import functools
import json
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import annotated_types
import pydantic

from tdxlib.data import load_yaml
from tdxlib.errors import DataError, ValidationError
from tdxlib.values import AnyOf, Bool, Choices, Date, Float, Int, Pattern, Str, Text, field_error

__all__ = [
    "MAX_ERRORS",
    "AnyOf",
    "ApiModel",
    "Bool",
    "Choices",
    "Date",
    "Float",
    "Int",
    "Model",
    "Pattern",
    "Str",
    "Text",
    "api_dataclass",
    "argument_error",
    "build",
    "check",
    "errors_of",
    "field_error",
    "field_path",
    "json_schema",
    "line_for",
    "load",
    "schema_comment",
    "schema_text",
    "validate",
]

#: At most this many errors are reported for one file (the rest are counted, not listed).
MAX_ERRORS = 20

M = TypeVar("M")
Loc = Sequence[str | int]


class Model(pydantic.BaseModel):
    """Base of tdxlib's file models: frozen (hashable, never changed after validation) and closed."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------------------------------
# Where an error is: field path and line
# --------------------------------------------------------------------------------------------------


def field_path(loc: Loc) -> str:
    """``("annotations", 2, "anchor", "section")`` → ``annotations[2].anchor.section``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def line_for(data: Any, loc: Loc) -> int | None:
    """The 1-based line of the deepest element of ``loc`` present in ``data`` (LineDict/LineList)."""
    line: int | None = getattr(data, "line", None)
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            key_line = node.line_of(part) if hasattr(node, "line_of") else None
            line = key_line if key_line is not None else line
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            lines = getattr(node, "item_lines", [])
            line = lines[part] if part < len(lines) else line
            node = node[part]
        else:
            break
    return line


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields(model: Any) -> Mapping[str, Any]:
    """The pydantic fields of a model or pydantic dataclass (name -> FieldInfo)."""
    return getattr(model, "__pydantic_fields__", None) or {}


def _submodel(annotation: Any) -> Any:
    stack = [annotation]
    while stack:
        t = stack.pop()
        if isinstance(t, type) and _fields(t):
            return t
        stack.extend(typing.get_args(t))
    return None


def _model_at(model: Any, loc: Loc) -> Any:
    """The (sub)model whose fields ``loc`` walks into, or None."""
    current = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        field = next((f for n, f in _fields(current).items() if (f.alias or n) == part), None)
        current = _submodel(field.annotation) if field is not None else None
    return current


def _allowed_fields(model: Any, loc: Loc) -> list[str] | None:
    """Field names of the (sub)model at ``loc``, for 'unknown field' messages."""
    current = _model_at(model, loc)
    if current is None:
        return None
    return sorted(f.alias or n for n, f in _fields(current).items())


def _cause(err: Mapping[str, Any]) -> ValidationError | None:
    """The tdxlib ValidationError a validator raised, if that is what the error is."""
    cause = (err.get("ctx") or {}).get("error")
    return cause if isinstance(cause, ValidationError) else None


def _location(model: Any, err: Mapping[str, Any]) -> list[str | int]:
    """The error's location; a rule between fields that raised ValidationError points at its field."""
    ctx = err.get("ctx") or {}
    loc = [part for part in (*err["loc"], *ctx.get("subloc", [])) if part != "[key]"]  # a bad key: its path
    names = list(_fields(model))
    if loc and isinstance(loc[0], int) and not isinstance(model, type(pydantic.BaseModel)) and names:
        loc[0] = names[loc[0]] if loc[0] < len(names) else loc[0]  # a dataclass's positional argument
    cause = _cause(err)
    at_field = cause is not None and cause.what in _fields(_model_at(model, loc))
    if cause is not None and at_field and (not loc or loc[-1] != cause.what):
        loc.append(cause.what)
    return loc


# --------------------------------------------------------------------------------------------------
# File errors: DataError with file, line, field and value
# --------------------------------------------------------------------------------------------------


#: pydantic's error types for a field that is not in the model, and for one that is required (models
#: and dataclasses name them differently).
_UNKNOWN = frozenset({"extra_forbidden", "unexpected_keyword_argument"})
_MISSING = frozenset({"missing", "missing_argument", "missing_keyword_only_argument"})


#: pydantic messages that speak Python where a YAML file has lists and mappings.
_SAID = {
    "tuple_type": "Input should be a list",
    "set_type": "Input should be a list",
    "dict_type": "Input should be a mapping",
    "dataclass_type": "Input should be a mapping of fields",
    "model_type": "Input should be a mapping of fields",
}


def _message(model: Any, err: Mapping[str, Any], loc: Loc) -> str:
    kind = err.get("type", "")
    if kind in _UNKNOWN:
        allowed = _allowed_fields(model, loc[:-1])
        return "unknown field" + (f"; expected one of {', '.join(allowed)}" if allowed else "")
    if kind in _MISSING:
        return "missing (required)"
    if kind == "tdxlib_choice":
        return f"expected {err.get('msg')}, got {_shown(err.get('input'))}"
    cause = _cause(err)
    if cause is not None:
        if loc and loc[-1] == cause.what:
            return f"{_shown(cause.value)} is not allowed; expected {cause.allowed}"
        return str(cause)
    msg = _SAID.get(kind) or str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if kind == "tdxlib_field" or kind.startswith("unknown_") or "input" not in err:
        return msg
    return f"{msg}, got {_shown(err.get('input'))}"


def errors_of(
    model: Any,
    exc: pydantic.ValidationError,
    data: Any,
    path: object,
    error: type[DataError] = DataError,
) -> list[DataError]:
    """One error per pydantic error (at most MAX_ERRORS, then one that counts the rest), each with the
    line and dotted field of its location."""
    found = exc.errors()
    out: list[DataError] = []
    for err in found[:MAX_ERRORS]:
        loc = _location(model, err)
        out.append(error(_message(model, err, loc), path, line_for(data, loc), field_path(loc)))
    if len(found) > MAX_ERRORS:
        out.append(error(f"... and {len(found) - MAX_ERRORS} more errors", path))
    return out


def _mapping_or_error(data: Any, path: object, what: str | None) -> None:
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else type(data).__name__
        raise DataError(f"{what or 'the file'} must be a mapping of fields, got {kind}", path, 1)


def check(
    model: type[M], data: Any, path: object = None, *, error: type[DataError] = DataError
) -> tuple[M | None, list[DataError]]:
    """``model`` validated from ``data`` and every error found (at most MAX_ERRORS listed)."""
    try:
        return model.__pydantic_validator__.validate_python(data), []  # type: ignore[attr-defined]
    except pydantic.ValidationError as exc:
        return None, errors_of(model, exc, data, path, error)


def validate(model: type[M], data: Any, path: object = None, *, what: str | None = None) -> M:
    """``model`` validated from ``data`` (as :func:`tdxlib.data.load_yaml` builds it); raises the first
    DataError (file, line, field, value), with the number of further errors in its message."""
    _mapping_or_error(data, path, what)
    try:
        return model.__pydantic_validator__.validate_python(data)  # type: ignore[attr-defined]
    except pydantic.ValidationError as exc:
        errors = errors_of(model, exc, data, path)
        first = errors[0]
        more = len(exc.errors()) - 1
        if more:
            first = DataError(
                f"{first.message} (and {more} more errors)", first.path, first.line, first.field
            )
        raise first from None


def load(model: type[M], path: str | Path, *, what: str | None = None) -> M:
    """Read ``path`` with the one YAML reader and validate it as ``model``."""
    return validate(model, load_yaml(path), Path(path), what=what)


# --------------------------------------------------------------------------------------------------
# Argument errors: ValidationError naming the argument, the value and what is allowed
# --------------------------------------------------------------------------------------------------

#: What a value must be, by pydantic error type (``{...}`` filled from the error's context).
_ALLOWED = {
    "int_type": "an integer",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "string_type": "a string",
    "bytes_type": "bytes",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping of fields",
    "dataclass_type": "a mapping of fields",
    "missing": "a value (it is required)",
    "missing_argument": "a value (it is required)",
    "greater_than_equal": "a value >= {ge}",
    "greater_than": "a value > {gt}",
    "less_than_equal": "a value <= {le}",
    "less_than": "a value < {lt}",
    "literal_error": "one of {expected}",
    "string_too_short": "at least {min_length} character(s)",
    "string_too_long": "at most {max_length} characters",
    "too_short": "at least {min_length} item(s)",
    "too_long": "at most {max_length} items",
    "string_pattern_mismatch": "a string matching {pattern}",
    "date_type": "a date (YYYY-MM-DD)",
}
_KINDS = {int: "an integer", float: "a finite number"}
_BOUNDS = (
    (annotated_types.Ge, "ge", ">="),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "<="),
    (annotated_types.Lt, "lt", "<"),
)


def _field_allowed(info: Any) -> str | None:
    """``an integer in 1..8192``, ``a finite number > 0 or None``: what a numeric field allows."""
    annotation, metadata, optional = info.annotation, list(info.metadata), False
    while True:
        if typing.get_origin(annotation) is Annotated:
            annotation, *more = typing.get_args(annotation)
            metadata += [inner for m in more for inner in getattr(m, "metadata", [m])]
        elif type(None) in typing.get_args(annotation) and len(typing.get_args(annotation)) == 2:
            annotation, optional = next(a for a in typing.get_args(annotation) if a is not type(None)), True
        else:
            break
    choices = next((m for m in metadata if isinstance(m, Choices)), None)
    if choices is not None:
        return choices.message
    kind = _KINDS.get(annotation)
    if kind is None:
        return None
    bounds = {
        key: (sign, getattr(m, key)) for m in metadata for cls, key, sign in _BOUNDS if isinstance(m, cls)
    }
    if "ge" in bounds and "le" in bounds:
        kind += f" in {bounds['ge'][1]}..{bounds['le'][1]}"
    else:
        kind += "".join(f" {sign} {value}" for sign, value in bounds.values())
    return kind + (" or None" if optional else "")


def _allowed(model: Any, err: Mapping[str, Any], loc: Loc) -> str:
    kind = err["type"]
    if kind in _UNKNOWN:
        return "one of " + ", ".join(_allowed_fields(model, loc[:-1]) or ())
    if kind in ("tdxlib_choice", "tdxlib_field"):
        return str(err["msg"])
    if len(loc) == 1 and kind not in _MISSING and str(loc[0]) in _fields(model):
        text = _field_allowed(_fields(model)[str(loc[0])])
        if text is not None:
            return text
    template = _ALLOWED.get(kind)
    if template is None:
        return str(err.get("msg", "a valid value")).removeprefix("Value error, ")
    return template.format(**(err.get("ctx") or {}))


def argument_error(model: Any, exc: pydantic.ValidationError) -> ValidationError:
    """The first error of ``exc`` as a ValidationError naming the argument, the value and what is
    allowed (a validator's own ValidationError as it was raised)."""
    err = exc.errors()[0]
    cause = _cause(err)
    if cause is not None:
        return cause
    loc = _location(model, err)
    value = "(missing)" if err["type"] in _MISSING else err.get("input")
    return ValidationError(field_path(loc), value, _allowed(model, err, loc))


def _python(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (``np.int64(4)`` -> ``4``), a 1-d array or a list or
    tuple of numpy scalars as a list or tuple of Python values; everything else unchanged. Arguments
    given in Python are passed through this, so the strict field types need no numpy case."""
    kind = type(value)
    if kind.__module__ == "numpy":
        ndim = getattr(value, "ndim", None)
        return value.tolist() if ndim in (0, 1) else value
    if (kind is tuple or kind is list) and any(type(v).__module__ == "numpy" for v in value):
        return kind(_python(v) for v in value)
    return value


def _pythons(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _python(v) for k, v in values.items()}


def build(model: type[M], data: Any) -> M:
    """``model`` from a mapping of Python values; raises ValidationError (see :func:`argument_error`)."""
    try:
        if isinstance(data, Mapping):
            data = _pythons(data)
        return model.__pydantic_validator__.validate_python(data)  # type: ignore[attr-defined]
    except pydantic.ValidationError as exc:
        raise argument_error(model, exc) from None


class ApiModel(Model):
    """A model built from Python arguments (``Scenario(cpus=8)``): a bad value is a ValidationError
    naming the argument, the value and what is allowed. Files are validated as for any Model."""

    def __init__(self, /, **values: Any) -> None:
        try:
            super().__init__(**_pythons(values))
        except pydantic.ValidationError as exc:
            raise argument_error(type(self), exc) from None

    # validation itself (model_validate, files) need not run this __init__: it only renames errors
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


C = TypeVar("C", bound=type)


def api_dataclass(cls: C) -> C:
    """Make a pydantic dataclass's constructor (and so ``dataclasses.replace``) raise ValidationError,
    as :class:`ApiModel` does; files validated with :func:`validate` still get DataErrors."""
    init: Callable[..., None] = cls.__init__  # type: ignore[misc]

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *(_python(a) for a in args), **_pythons(kwargs))
        except pydantic.ValidationError as exc:
            raise argument_error(cls, exc) from None

    cls.__init__ = __init__  # type: ignore[misc]
    return cls


# --------------------------------------------------------------------------------------------------
# JSON Schema
# --------------------------------------------------------------------------------------------------

#: The first line of a shipped YAML file: editors that speak the YAML language server validate it.
SCHEMA_COMMENT = "# yaml-language-server: $schema={}"


def json_schema(model: Any) -> dict[str, Any]:
    """The model's JSON Schema (draft 2020-12), as editors and ``tdxlib schema`` use it."""
    if isinstance(model, type) and issubclass(model, pydantic.BaseModel):
        return model.model_json_schema()
    return pydantic.TypeAdapter(model).json_schema()


def schema_text(model: Any, schema_id: str) -> str:
    """The JSON Schema of ``model`` as a shipped file holds it (sorted keys, ``$schema`` and ``$id``)."""
    schema = json_schema(model)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = schema_id
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def schema_comment(relative: str) -> str:
    """``# yaml-language-server: $schema=RELATIVE`` (the schema's path relative to the YAML file)."""
    return SCHEMA_COMMENT.format(relative)
