"""The base of the notebooks' parameter models (:mod:`tdxlib.workbook.params`) and what is derived
from a model's fields: the notebook's ``parameters`` cell, validation problems that name the
parameter, the bad value and what is allowed, and the facts a widget control is built from.

A field is declared with :func:`param` (default, help text, range, panel hints) on one of the strict
types below (a YAML ``"8"`` is not an int; an int is a float); choices are a ``Literal`` or a
:class:`OneOf` whose list is read when a value is checked (e.g. the shipped VMM profile names).
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Self

import annotated_types
import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError, core_schema

from tdxlib.errors import ValidationError

__all__ = [
    "INTERACTIVE_LINE",
    "FieldFacts",
    "NotebookParams",
    "OneOf",
    "Problem",
    "facts",
    "param",
    "problems_of",
]

#: First line of every parameters cell: the pipeline's own parameter (report runs pass False).
INTERACTIVE_LINE = (
    "interactive: bool = True  # live charts and the widget panel in JupyterLab; report runs pass False"
)


@dataclass(frozen=True)
class OneOf:
    """Choices read from ``source`` whenever a value is checked: annotate a ``Str`` field, or a tuple
    field whose every item must be one of them (the source is then read once for all items)."""

    source: Callable[[], Sequence[Any]]

    def choices(self) -> tuple[Any, ...]:
        """The allowed values now."""
        return tuple(self.source())

    def __get_pydantic_core_schema__(
        self, source_type: Any, handler: pydantic.GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source_type))

    def _check(self, value: Any) -> Any:
        choices = self.choices()
        items = value if isinstance(value, tuple) else (value,)
        if any(item not in choices for item in items):
            raise PydanticCustomError("choice", "is not one of the choices")
        return value


def param(
    default: Any,
    help: str,
    *,
    ge: float | None = None,
    le: float | None = None,
    label: str | None = None,
    widget: str | None = None,
    step: float | None = None,
    slider: tuple[float, float] | None = None,
    max_from: str | None = None,
) -> Any:
    """A notebook parameter: ``default``, ``help`` (the parameters cell's comment) and its range.

    Panel hints: ``label`` (the control's caption), ``widget`` (``pow2``: a slider over powers of
    two; ``log``: a log slider; ``text``: a number box; ``toggle``: buttons), ``step``, ``slider``
    (the control's narrower range) and ``max_from`` (another field whose value ends the slider).
    """
    hints: dict[str, Any] = {
        "label": label,
        "widget": widget,
        "step": step,
        "slider": list(slider) if slider else None,
        "max_from": max_from,
    }
    extra = {k: v for k, v in hints.items() if v is not None}
    return Field(default, description=help, ge=ge, le=le, json_schema_extra=extra or None)


@dataclass(frozen=True)
class Problem:
    """One bad entry of a parameter set: the parameter, its value, why and what is allowed."""

    name: str
    value: Any
    why: str
    allowed: str
    unknown: bool = False


@dataclass(frozen=True)
class FieldFacts:
    """What a field allows, read off its annotation: the basis of help text, messages and controls."""

    name: str
    kind: type  # int, float, bool or str (of the items, for a list)
    is_list: bool
    default: Any
    help: str
    low: float | None
    high: float | None
    choices: tuple[Any, ...] | None
    hints: Mapping[str, Any]

    def type_text(self) -> str:
        """The annotation in the parameters cell: ``int``, ``list[str]``, ..."""
        return f"list[{self.kind.__name__}]" if self.is_list else self.kind.__name__

    def range_text(self) -> str:
        """``[lo..hi]`` (either end may be empty), or "" without a range."""
        if self.low is None and self.high is None:
            return ""
        return f"[{_fmt(self.low)}..{_fmt(self.high)}]"

    def help_text(self) -> str:
        """The parameters cell's comment: help, range and choices in the cell's convention."""
        text = self.help
        if self.is_list:
            if self.choices is not None:
                text += "; each one of " + "|".join(str(c) for c in self.choices)
            elif self.range_text():
                text += "; each in " + self.range_text()
            return text
        if self.range_text():
            text += " " + self.range_text()
        if self.choices is not None:
            text += "; choices: " + "|".join(str(c) for c in self.choices)
        return text

    def allowed(self) -> str:
        """What is allowed, for messages: ``an int in [1..20]``, ``one of "a", "b"``, ..."""
        if self.choices is not None:
            one = "one of " + ", ".join(json.dumps(c) for c in self.choices)
            return f"a list, each {one}" if self.is_list else one
        kind = {int: "an int", float: "a number", str: "a string", bool: "true or false"}[self.kind]
        if self.range_text():
            kind += " in " + self.range_text()
        return f"a list, each {kind}" if self.is_list else kind

    def line(self) -> str:
        """This field's line of the parameters cell."""
        return f"{self.name}: {self.type_text()} = {_literal(self.default)}  # {self.help_text()}"


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else repr(x)


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


def _scalar(annotation: Any, metadata: Sequence[Any]) -> tuple[type, float | None, float | None, Any]:
    """(kind, low, high, choices) of a scalar annotation and its metadata."""
    if typing.get_origin(annotation) is Annotated:
        base, *more = typing.get_args(annotation)
        return _scalar(base, [*more, *metadata])
    low = high = None
    choices: tuple[Any, ...] | None = None
    flat = [inner for m in metadata for inner in (m.metadata if isinstance(m, FieldInfo) else [m])]
    for m in flat:
        if isinstance(m, annotated_types.Ge):
            low = float(m.ge)  # type: ignore[arg-type]
        elif isinstance(m, annotated_types.Le):
            high = float(m.le)  # type: ignore[arg-type]
        elif isinstance(m, OneOf):
            choices = m.choices()
    if typing.get_origin(annotation) is Literal:
        choices = typing.get_args(annotation)
        return type(choices[0]), low, high, choices
    return annotation, low, high, choices


def facts(model: type[NotebookParams], name: str) -> FieldFacts:
    """What the field ``name`` of ``model`` allows."""
    info = model.model_fields[name]
    annotation = info.annotation
    is_list = typing.get_origin(annotation) is tuple
    if is_list:
        kind, low, high, choices = _scalar(typing.get_args(annotation)[0], [])
        for m in info.metadata:
            if isinstance(m, OneOf):
                choices = m.choices()
    else:
        kind, low, high, choices = _scalar(annotation, info.metadata)
    hints = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return FieldFacts(
        name, kind, is_list, info.default, info.description or "", low, high, choices, dict(hints)
    )


#: pydantic error types -> why a value is refused (the rest say what pydantic says).
_WHY = {
    "choice": "is not one of the choices",
    "literal_error": "is not one of the choices",
    "greater_than_equal": "is out of range",
    "less_than_equal": "is out of range",
    "finite_number": "is not finite",
}


def _type_name(value: Any) -> str:
    return "list" if isinstance(value, (list, tuple)) else type(value).__name__


def problems_of(
    model: type[NotebookParams], exc: pydantic.ValidationError, values: Mapping[str, Any]
) -> list[Problem]:
    """``exc`` as one :class:`Problem` per parameter (unknown names first, then in field order)."""
    out: dict[str, Problem] = {}
    known = f"a parameter of {model.NOTEBOOK}: " + ", ".join(model.model_fields)
    for err in exc.errors():
        cause = (err.get("ctx") or {}).get("error")
        if not err["loc"] and isinstance(cause, ValidationError):  # a rule between parameters
            out.setdefault(cause.what, Problem(cause.what, cause.value, "is not allowed", cause.allowed))
            continue
        name = str(err["loc"][0])
        value = values.get(name, err["input"])
        if err["type"] == "extra_forbidden":
            out.setdefault(name, Problem(name, value, "is unknown", known, unknown=True))
            continue
        why = _WHY.get(err["type"])
        if why is None:
            why = f"has the wrong type ({_type_name(err['input'])})" if "type" in err["type"] else err["msg"]
        out.setdefault(name, Problem(name, value, why, facts(model, name).allowed()))
    order = {n: i for i, n in enumerate(model.model_fields)}
    return sorted(out.values(), key=lambda p: (not p.unknown, order.get(p.name, -1)))


class NotebookParams(BaseModel):
    """The parameters of one notebook: frozen (hashable: a cache key), no unknown names.

    Values are the notebook's, as its user types them ("0 = none" stays 0); properties of the
    subclasses convert them, once, for the library. Built with bad values it raises
    :class:`~tdxlib.errors.ValidationError` naming the parameter, the value and what is allowed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The notebook's file stem, e.g. ``04_hotplug``.
    NOTEBOOK: ClassVar[str] = ""
    #: The guest kernel profile of a notebook without a ``kernel`` parameter (None: it has one).
    KERNEL: ClassVar[str | None] = None
    #: Facts of the kernel profile every run of the notebook overrides (``Scenario`` field -> value).
    KERNEL_OVERRIDES: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except pydantic.ValidationError as exc:
            first = problems_of(type(self), exc, values)[0]
            raise ValidationError(first.name, first.value, first.allowed) from exc

    # Validation itself (model_validate, problems) need not run this __init__: it only renames errors.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]) -> Self:
        """The model of a notebook's parameters as its cells see them: ``X.from_namespace(globals())``."""
        return cls(**{name: namespace[name] for name in cls.model_fields if name in namespace})

    @classmethod
    def problems(cls, values: Mapping[str, Any]) -> list[Problem]:
        """Every problem of a (partial) parameter set; [] when the model accepts it."""
        try:
            cls.model_validate(dict(values))
        except pydantic.ValidationError as exc:
            return problems_of(cls, exc, values)
        return []

    @classmethod
    def parameters_cell(cls) -> str:
        """The notebook's ``parameters`` cell, generated from the fields (a test checks they agree)."""
        lines = [INTERACTIVE_LINE, *(facts(cls, name).line() for name in cls.model_fields)]
        return "\n".join(lines)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``, validated again."""
        return type(self)(**{**self.model_dump(), **changes})

    def kernel_name(self) -> str | None:
        """The guest kernel profile this notebook's models run on: its ``kernel`` parameter, or
        :data:`KERNEL`; every report names it."""
        return getattr(self, "kernel", None) or self.KERNEL

    def kernel_overrides(self) -> dict[str, Any]:
        """Facts of that profile the notebook's runs replace (e.g. ``{"layout": ...}``), for its header."""
        return dict(self.KERNEL_OVERRIDES)

    def control_value(self, name: str) -> Any:
        """The value a widget control starts from (a subclass may resolve "empty = default")."""
        return getattr(self, name)
