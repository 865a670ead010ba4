"""One validation approach: pydantic models for every file kind, errors naming file, line, field and value.

A file tdxlib reads is parsed by :func:`tdxlib.data.load_yaml` (which keeps the line of every key and
item) and validated by a pydantic model; :func:`validate` walks each pydantic error's location through
those lines, so the :class:`~tdxlib.errors.DataError` says ``file:line: field: what is wrong, got
X``. :class:`Model` is the frozen, closed base (unknown fields are errors that list the known ones);
:func:`json_schema` is what ``tdxlib schema KIND`` prints and editors validate against.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import pydantic

from tdxlib.data import load_yaml
from tdxlib.errors import DataError

__all__ = ["MAX_ERRORS", "Model", "errors_of", "field_path", "json_schema", "line_for", "load", "validate"]

#: At most this many errors are reported for one file (the rest are counted, not listed).
MAX_ERRORS = 20

M = TypeVar("M", bound=pydantic.BaseModel)
Loc = Sequence[str | int]


class Model(pydantic.BaseModel):
    """Base of tdxlib's file models: frozen (hashable, never changed after validation) and closed."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


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


def _submodel(annotation: Any) -> type[pydantic.BaseModel] | None:
    stack = [annotation]
    while stack:
        t = stack.pop()
        if isinstance(t, type) and issubclass(t, pydantic.BaseModel):
            return t
        stack.extend(typing.get_args(t))
    return None


def _allowed_fields(model: type[pydantic.BaseModel], loc: Loc) -> list[str] | None:
    """Field names of the (sub)model at ``loc``, for 'unknown field' messages."""
    current: type[pydantic.BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        current = _submodel(field.annotation) if field is not None else None
    if current is None:
        return None
    return sorted(f.alias or n for n, f in current.model_fields.items())


def _message(model: type[pydantic.BaseModel], err: Any, loc: Loc) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        allowed = _allowed_fields(model, loc[:-1])
        return "unknown field" + (f"; expected one of {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return "missing (required)"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if kind == "tdxlib_field" or kind.startswith("unknown_") or "input" not in err:
        return msg
    return f"{msg}, got {_shown(err.get('input'))}"


def errors_of(
    model: type[pydantic.BaseModel],
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
        ctx = err.get("ctx") or {}
        loc = [*err["loc"], *ctx.get("subloc", [])]
        out.append(error(_message(model, err, loc), path, line_for(data, loc), field_path(loc)))
    if len(found) > MAX_ERRORS:
        out.append(error(f"... and {len(found) - MAX_ERRORS} more errors", path))
    return out


def validate(model: type[M], data: Any, path: object = None, *, what: str | None = None) -> M:
    """``model`` validated from ``data`` (as :func:`tdxlib.data.load_yaml` builds it); raises the first
    DataError (file, line, field, value), with the number of further errors in its message."""
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else type(data).__name__
        raise DataError(f"{what or 'the file'} must be a mapping of fields, got {kind}", path, 1)
    try:
        return model.model_validate(data)
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


def json_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema (draft 2020-12), as editors and ``tdxlib schema`` use it."""
    return model.model_json_schema()
