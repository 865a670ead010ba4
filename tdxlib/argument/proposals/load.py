"""Reading proposal files: safe YAML with line numbers, pydantic validation, errors naming file, line, field.

Every failure is a :class:`~tdxlib.errors.ProposalError` whose ``path``, ``line`` and ``field``
(``annotations[2].anchor.section``) point at the offending spot: pydantic's error locations are walked
through the :class:`~tdxlib.data.LineDict` / ``LineList`` the loader built. A YAML syntax error
names the nearest key above it as the field.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pydantic

from tdxlib.argument.proposals import catalog
from tdxlib.argument.proposals.schema import Proposal
from tdxlib.cache import memo, stat_key
from tdxlib.data import load_yaml_text
from tdxlib.errors import DataError, ProposalError, ValidationError

__all__ = [
    "builtin_ids",
    "check_proposal",
    "check_proposal_text",
    "field_path",
    "line_for",
    "load_builtins",
    "load_proposal",
    "load_proposal_text",
    "pydantic_errors",
    "resolve",
]

Loc = Sequence[str | int]


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


def _allowed_fields(loc: Loc) -> list[str] | None:
    """Field names of the model at ``loc`` (for 'unknown field' messages), walking the annotations."""
    model: Any = Proposal
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", {})
        field = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        model = None
        stack = [field.annotation]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, pydantic.BaseModel):
                model = t
                break
            stack.extend(typing.get_args(t))
        if model is None:
            return None
    return sorted(f.alias or n for n, f in getattr(model, "model_fields", {}).items())


def _message(err: Any, loc: Loc) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1])
        hint = f"; expected one of {', '.join(allowed)}" if allowed else ""
        return f"unknown field{hint}"
    if kind == "missing":
        return "missing (required)"
    msg = str(err.get("msg", "invalid"))
    if kind == "tdxlib_field" or kind.startswith("unknown_"):
        return msg
    if "input" in err:
        return f"{msg}, got {_shown(err.get('input'))}"
    return msg


def pydantic_errors(exc: pydantic.ValidationError, data: Any, path: object) -> list[ProposalError]:
    """One ProposalError per pydantic error, with the line and dotted field of its location."""
    out = []
    for err in exc.errors():
        ctx = err.get("ctx") or {}
        loc = [*err["loc"], *ctx.get("subloc", [])]
        out.append(ProposalError(_message(err, loc), path, line_for(data, loc), field_path(loc)))
    return out


def _key_path_at(text: str, line: int | None) -> str | None:
    """Best-effort dotted key path of the last mapping key at or above ``line`` (for syntax errors)."""
    if line is None:
        return None
    stack: list[tuple[int, str]] = []
    for raw in text.splitlines()[:line]:
        m = re.match(r"^(\s*(?:-\s+)*)([A-Za-z_][\w-]*)\s*:(\s|$)", raw)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
    return ".".join(k for _, k in stack) or None


def _parse(text: str, path: object) -> Any:
    try:
        return load_yaml_text(text, path)
    except DataError as exc:
        field = _key_path_at(text, exc.line)
        raise ProposalError(exc.message, path, exc.line, field) from None


def check_proposal_text(text: str, path: object = "<string>") -> tuple[Proposal | None, list[ProposalError]]:
    """Validate YAML text: the proposal (None if invalid) and every error found."""
    try:
        data = _parse(text, path)
    except ProposalError as exc:
        return None, [exc]
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else "a list" if isinstance(data, list) else repr(data)
        err = ProposalError(f"a proposal is a mapping of fields, got {kind}", path, 1, "(top level)")
        return None, [err]
    try:
        return Proposal.model_validate(data), []
    except pydantic.ValidationError as exc:
        return None, pydantic_errors(exc, data, path)


def check_proposal(path: str | Path) -> tuple[Proposal | None, list[ProposalError]]:
    """Validate a proposal file: the proposal (None if invalid) and every error found."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [ProposalError("file not found", p, None, None)]
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        return None, [ProposalError(f"cannot read the file as UTF-8 text ({exc})", p, None, None)]
    return check_proposal_text(text, p)


def load_proposal_text(text: str, path: object = "<string>") -> Proposal:
    """Validate YAML text; raises the first ProposalError (file, line, field)."""
    proposal, errors = check_proposal_text(text, path)
    if errors:
        raise errors[0]
    assert proposal is not None
    return proposal


def load_proposal(path: str | Path) -> Proposal:
    """Read and validate a proposal file (safe YAML); raises ProposalError naming file, line, field."""
    proposal, errors = check_proposal(path)
    if errors:
        raise errors[0]
    assert proposal is not None
    return proposal


def builtin_ids() -> list[str]:
    """Ids of the built-in proposals (data/proposals/*.yaml), in a stable reading order."""
    order = [
        "ghci-as-written",
        "dynamic-irq-as-written",
        "must-inject",
        "apic-id-in-setup",
        "vector-in-getquote",
        "caller-vcpu",
        "polling-only",
        "kvm-rfc-2026",
    ]
    found = list(catalog.builtin_paths())
    return [i for i in order if i in found] + sorted(i for i in found if i not in order)


def _own_copy(proposal: Proposal) -> Proposal:
    """A deep copy: a Proposal is frozen, but its lists are not, and each caller gets its own."""
    return proposal.model_copy(deep=True)


def _builtin(pid: str) -> Proposal:
    """The built-in proposal ``pid``, read again when its file changed."""
    path = catalog.builtin_paths()[pid]
    return _builtin_at(pid, stat_key(path, catalog.SECTIONS_PATH, catalog.SUITES_PATH))


@memo(maxsize=32, copy=_own_copy)
def _builtin_at(pid: str, stat: tuple[tuple[str, int, int], ...]) -> Proposal:
    """The built-in ``pid`` as read from the first file ``stat`` names; the key holds the stat_key of
    that file and of the files that say what it may name (GHCI sections, suite scenarios)."""
    path = Path(stat[0][0])
    proposal = load_proposal(path)
    if proposal.id != pid:
        data = load_yaml_text(path.read_text(encoding="utf-8"), path)
        raise ProposalError(
            f"id {proposal.id!r} differs from the file name {pid!r}", path, line_for(data, ["id"]), "id"
        )
    return proposal


def load_builtins() -> list[Proposal]:
    """Every built-in proposal, validated."""
    return [_builtin(i) for i in builtin_ids()]


def resolve(proposal: Proposal | str | Path) -> Proposal:
    """A Proposal from itself, a built-in id (``"caller-vcpu"``) or a path to a YAML file."""
    if isinstance(proposal, Proposal):
        return proposal
    if isinstance(proposal, str) and proposal in catalog.builtin_paths():
        return _builtin(proposal)
    if isinstance(proposal, (str, Path)):
        p = Path(proposal)
        if p.suffix in (".yaml", ".yml") or p.exists():
            return load_proposal(p)
    raise ValidationError("proposal", proposal, f"a built-in id ({', '.join(builtin_ids())}) or a .yaml path")
