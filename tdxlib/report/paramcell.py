"""A notebook's ``parameters`` cell, parsed and used to validate parameter sets before any kernel runs.

Papermill only guesses (and never checks) parameters, so we read the cell ourselves with ``ast``.
Each parameter is one line ``name: type = literal  # help``. The help comment may carry constraints
(the convention is documented in reports/README.md):

- ``[LO..HI]`` — inclusive range for numbers; either end may be left out (``[1..]``, ``[..0.5]``);
- ``choices: a|b|c`` — the allowed values (``Literal["a", "b"]`` annotations work too).

Types: ``int``, ``float`` (an int is accepted), ``str``, ``bool``, ``list``/``list[...]``,
``dict``/``dict[...]``, ``X | None`` / ``Optional[X]``, ``Literal[...]``; without an annotation the
type of the default value is used.

A notebook with a parameter model in :mod:`tdxlib.workbook.params` (the workbook's 01..06) is checked
by its model instead (:class:`ModelParameters`): the model holds each parameter's type, range and
choices, and generates the cell, so the two agree.
"""

from __future__ import annotations

import ast
import io
import json
import math
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tdxlib.errors import ReportError
from tdxlib.models import MAX_ERRORS

if TYPE_CHECKING:
    from tdxlib.workbook.param_model import NotebookParams

_RANGE = re.compile(
    r"\[\s*(?P<lo>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)?\s*\.\.\s*"
    r"(?P<hi>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)?\s*\]"
)
_CHOICES = re.compile(r"choices:\s*(?P<values>[^\s|;,]+(?:\s*\|\s*[^\s|;,]+)*)")
_TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}


class ParameterError(ReportError):
    """Parameter sets that do not fit their notebooks' parameters cells; one line per problem (at most
    :data:`tdxlib.models.MAX_ERRORS` listed, the rest counted)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        head = "invalid report parameters" if len(problems) != 1 else "invalid report parameter"
        shown = self.problems[:MAX_ERRORS]
        if len(self.problems) > MAX_ERRORS:
            shown.append(f"... and {len(self.problems) - MAX_ERRORS} more")
        super().__init__(head + ":\n  " + "\n  ".join(shown))


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: its type, default, help text and constraints."""

    name: str
    type_name: str  # as written, e.g. "int", "str | None", "Literal['a', 'b']"
    base: type | None  # int/float/str/bool/list/dict, None = any
    optional: bool
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    line: int = 0

    def allowed(self) -> str:
        """Human description of the allowed values, e.g. ``an int in [1..8192]``."""
        if self.choices is not None:
            text = "one of " + ", ".join(json.dumps(c) for c in self.choices)
        else:
            kind = {int: "an int", float: "a number", str: "a string", bool: "true or false"}
            text = kind.get(self.base, f"a {self.base.__name__}" if self.base else "any value")  # type: ignore[arg-type]
            if self.low is not None or self.high is not None:
                lo = "" if self.low is None else _fmt(self.low)
                hi = "" if self.high is None else _fmt(self.high)
                text += f" in [{lo}..{hi}]"
        return text + (" or null" if self.optional else "")

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed for this parameter, or None when it is."""
        if value is None:
            return None if self.optional or self.base is None else "is null"
        if self.base is not None and not _is_type(value, self.base):
            return f"has the wrong type ({_type_name(value)})"
        if self.choices is not None and value not in self.choices:
            return "is not one of the choices"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                return "is not finite"
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                return "is out of range"
        return None


@dataclass(frozen=True)
class ParametersCell:
    """The parsed ``parameters`` cell of one notebook (empty when it has none)."""

    notebook: Path
    parameters: dict[str, Parameter] = field(default_factory=dict)
    cell_index: int | None = None

    def problems(self, values: Mapping[str, Any], set_name: str) -> list[str]:
        """One message per bad entry of ``values`` (unknown name, wrong type, out of range)."""
        out = []
        where = f"{self.notebook.name}, parameter set {set_name!r}"
        known = ", ".join(sorted(self.parameters)) or "none (the notebook has no parameters cell)"
        for name, value in values.items():
            param = self.parameters.get(name)
            if param is None:
                out.append(f"{where}: unknown parameter {name!r}; the notebook declares: {known}")
                continue
            why = param.problem(value)
            if why:
                out.append(f"{where}: parameter {name!r} = {value!r} {why}; expected {param.allowed()}")
        return out


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _type_name(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}.get(
        type(value), type(value).__name__
    )


def _is_type(value: Any, base: type) -> bool:
    if base is bool:
        return isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, base)


def _parse_annotation(node: ast.expr | None) -> tuple[type | None, bool, tuple[Any, ...] | None]:
    """(base type, optional, Literal choices) of an annotation; raises ValueError when unsupported."""
    if node is None:
        return None, False, None
    if isinstance(node, ast.Constant) and node.value is None:
        return None, True, None
    if isinstance(node, ast.Name):
        if node.id == "Any":
            return None, False, None
        if node.id in _TYPES:
            return _TYPES[node.id], False, None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        parts = [_parse_annotation(node.left), _parse_annotation(node.right)]
        real = [p for p in parts if not (p[0] is None and p[1] and p[2] is None)]
        if len(real) == 1:
            return real[0][0], True, real[0][2]
    if isinstance(node, ast.Subscript) and isinstance(node.value, (ast.Name, ast.Attribute)):
        head = node.value.id if isinstance(node.value, ast.Name) else node.value.attr
        if head in ("list", "List"):
            return list, False, None
        if head in ("dict", "Dict"):
            return dict, False, None
        if head == "Optional":
            base, _, choices = _parse_annotation(node.slice)
            return base, True, choices
        if head == "Literal":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            choices = tuple(ast.literal_eval(e) for e in elts)
            kinds = {type(c) for c in choices}
            return (kinds.pop() if len(kinds) == 1 else None), False, choices
    raise ValueError(f"unsupported annotation {ast.unparse(node)!r}")


def _comments(source: str) -> dict[int, str]:
    """1-based line -> comment text (without '#') of ``source``."""
    out: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def _constraints(help_text: str, base: type | None, name: str) -> tuple[float | None, float | None, Any]:
    low = high = None
    choices: tuple[Any, ...] | None = None
    if m := _RANGE.search(help_text):
        low = float(m["lo"]) if m["lo"] is not None else None
        high = float(m["hi"]) if m["hi"] is not None else None
    if m := _CHOICES.search(help_text):
        raw = [v.strip() for v in m["values"].split("|")]
        try:
            if base is int:
                choices = tuple(int(v) for v in raw)
            elif base is float:
                choices = tuple(float(v) for v in raw)
            elif base is bool:
                choices = tuple(v.lower() == "true" for v in raw)
            else:
                choices = tuple(raw)
        except ValueError as exc:
            raise ValueError(f"choices of {name!r} do not fit its type: {raw}") from exc
    return low, high, choices


def parse_parameters_source(source: str, notebook: Path, cell_index: int | None = None) -> ParametersCell:
    """Parse the text of a parameters cell; raises ParameterError naming the notebook and line."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError([f"{notebook.name}: parameters cell line {exc.lineno}: {exc.msg}"]) from exc
    comments = _comments(source)
    params: dict[str, Parameter] = {}
    problems: list[str] = []
    for stmt in tree.body:
        where = f"{notebook.name}: parameters cell line {stmt.lineno}"
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            name, annotation, value_node = stmt.target.id, stmt.annotation, stmt.value
        elif (
            isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        ):
            name, annotation, value_node = stmt.targets[0].id, None, stmt.value
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring-like note
        else:
            problems.append(f"{where}: only `name: type = literal  # help` lines belong in a parameters cell")
            continue
        try:
            default = ast.literal_eval(value_node)
        except ValueError:
            problems.append(
                f"{where}: the default of {name!r} is not a literal; derive values in a later cell"
            )
            continue
        help_text = comments.get(stmt.end_lineno or stmt.lineno, comments.get(stmt.lineno, ""))
        try:
            base, optional, choices = _parse_annotation(annotation)
            if annotation is None and default is not None:
                base = type(default) if type(default) in _TYPES.values() else None
            low, high, help_choices = _constraints(help_text, base, name)
        except (ValueError, SyntaxError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        param = Parameter(
            name=name,
            type_name=ast.unparse(annotation) if annotation is not None else _type_name(default),
            base=base,
            optional=optional or (annotation is None and default is None),
            default=default,
            help=help_text,
            low=low,
            high=high,
            choices=choices if choices is not None else help_choices,
            line=stmt.lineno,
        )
        why = param.problem(default)
        if why:
            problems.append(f"{where}: default {name} = {default!r} {why}; expected {param.allowed()}")
        params[name] = param
    if problems:
        raise ParameterError(problems)
    return ParametersCell(notebook=notebook, parameters=params, cell_index=cell_index)


def cell_source(cell: Mapping[str, Any]) -> str:
    """A notebook cell's source as one string (nbformat allows a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


@dataclass(frozen=True)
class ModelParameters:
    """A notebook whose parameters have a model (:mod:`tdxlib.workbook.params`): the model checks a
    parameter set; names only the cell declares (``interactive``) are checked by the cell."""

    cell: ParametersCell
    model: type[NotebookParams]

    @property
    def parameters(self) -> dict[str, Parameter]:
        """The parameters the notebook's cell declares (the model's fields and ``interactive``)."""
        return self.cell.parameters

    def problems(self, values: Mapping[str, Any], set_name: str) -> list[str]:
        """One message per bad entry of ``values``, naming the set, the parameter, the value and what
        the model allows."""
        fields = self.model.model_fields
        by_cell = {k: v for k, v in values.items() if k not in fields and k in self.cell.parameters}
        out = self.cell.problems(by_cell, set_name)
        where = f"{self.cell.notebook.name}, parameter set {set_name!r}"
        known = ", ".join(sorted(self.cell.parameters))
        by_model = {k: v for k, v in values.items() if k not in by_cell}
        for p in self.model.problems(by_model):
            if p.unknown:
                out.append(f"{where}: unknown parameter {p.name!r}; the notebook declares: {known}")
            else:
                out.append(f"{where}: parameter {p.name!r} = {p.value!r} {p.why}; expected {p.allowed}")
        return out


def _with_model(cell: ParametersCell) -> ParametersCell | ModelParameters:
    # reason: pydantic and the workbook's models (strategies, VMM profiles) load only when a notebook has one
    from tdxlib.workbook.params import model_for

    model = model_for(cell.notebook.stem)
    if model is None:
        return cell
    declared = set(cell.parameters) - set(model.model_fields)
    missing = set(model.model_fields) - set(cell.parameters)
    if missing or not declared <= {"interactive"}:
        raise ParameterError(
            [
                f"{cell.notebook.name}: the parameters cell does not match its model "
                f"tdxlib.workbook.params.{model.__name__} (missing: {', '.join(sorted(missing)) or 'none'}; "
                f"extra: {', '.join(sorted(declared - {'interactive'})) or 'none'}); "
                f"regenerate it from {model.__name__}.parameters_cell()"
            ]
        )
    return ModelParameters(cell, model)


def run_kernel(notebook: str, overrides: Mapping[str, Any]) -> str | None:
    """The guest kernel profile a run's models use (its parameter model's ``kernel_name()``: the
    ``kernel`` parameter or the notebook's fixed one), or None for a notebook without a model."""
    return run_kernel_line(notebook, overrides)[0]


def run_kernel_line(notebook: str, overrides: Mapping[str, Any]) -> tuple[str | None, str]:
    """(the run's kernel profile, how its report header names it: the profile with the facts the
    notebook's runs replace, e.g. ``linux-6.12 (layout linux-5.19-tdx-v8, HZ 250, ...)``)."""
    # reason: pydantic, the workbook's models and the kernel profiles load only when a report is named
    from tdxlib.kernel.profile import load_kernel
    from tdxlib.workbook.params import model_for

    model = model_for(notebook)
    if model is None:
        return None, "none (no parameter model)"
    params = model(**{k: v for k, v in overrides.items() if k in model.model_fields})
    name = params.kernel_name()
    if name is None:
        return None, "none"
    return name, load_kernel(name).guest(**params.kernel_overrides()).describe()


def notebook_parameters(nb: Mapping[str, Any], notebook: Path) -> ParametersCell | ModelParameters:
    """What checks a notebook's parameter sets: its model when it has one, else its parameters cell."""
    return _with_model(find_parameters_cell(nb, notebook))


def find_parameters_cell(nb: Mapping[str, Any], notebook: Path) -> ParametersCell:
    """Parse the first code cell tagged ``parameters`` of a notebook's JSON (empty when there is none)."""
    for index, cell in enumerate(nb.get("cells", [])):
        tags = (cell.get("metadata") or {}).get("tags") or []
        if cell.get("cell_type") == "code" and "parameters" in tags:
            return parse_parameters_source(cell_source(cell), notebook, index)
    return ParametersCell(notebook=notebook)
