"""Reading proposal files: safe YAML with line numbers, pydantic validation, errors naming file, line, field.

Every failure is a :class:`~tdxlib.errors.ProposalError` whose ``path``, ``line`` and ``field``
(``annotations[2].anchor.section``) point at the offending spot, as :mod:`tdxlib.models` finds them for
every file kind (at most MAX_ERRORS listed); the file is read by the one bounded reader
(:func:`tdxlib.data.read_text`). A YAML syntax error names the nearest key above it as the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tdxlib.argument.proposals import catalog
from tdxlib.argument.proposals.schema import Proposal
from tdxlib.cache import memo, stat_key
from tdxlib.data import exists, load_yaml, load_yaml_text, read_text
from tdxlib.errors import DataError, ProposalError, ValidationError
from tdxlib.models import check, field_path, line_for

__all__ = [
    "builtin_ids",
    "check_proposal",
    "check_proposal_text",
    "field_path",
    "line_for",
    "load_builtins",
    "load_proposal",
    "load_proposal_text",
    "resolve",
]


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
        kind = "an empty file" if data is None else "a list" if isinstance(data, list) else _shown(data)
        err = ProposalError(f"a proposal is a mapping of fields, got {kind}", path, 1, "(top level)")
        return None, [err]
    proposal, errors = check(Proposal, data, path, error=ProposalError)
    return proposal, [e for e in errors if isinstance(e, ProposalError)]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_proposal(path: str | Path) -> tuple[Proposal | None, list[ProposalError]]:
    """Validate a proposal file: the proposal (None if invalid) and every error found (at most
    :data:`tdxlib.models.MAX_ERRORS`, then one that counts the rest). Read with the one reader:
    missing, a directory, too large or not UTF-8 is one error naming the file."""
    p = Path(path)
    try:
        text = read_text(p, what="proposal file")
    except DataError as exc:
        return None, [ProposalError(exc.message, exc.path, exc.line, None)]
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
        data = load_yaml(path)
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
        if p.suffix in (".yaml", ".yml") or exists(p):
            return load_proposal(p)
    raise ValidationError("proposal", proposal, f"a built-in id ({', '.join(builtin_ids())}) or a .yaml path")
