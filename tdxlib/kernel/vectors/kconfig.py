"""Kconfig-style conditions of a layout file: ``always``, ``never``, SWITCH, not/and/or, parentheses.

A vector of ``data/vectors/*.yaml`` exists (``defined:``) or is set in ``system_vectors``
(``system_bit:``) under a condition over the layout's switches, as ``#ifdef CONFIG_...`` and
run-time checks decide in the kernel. This module parses such a condition into a callable once, so a
layout is evaluated for any switch combination without parsing again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tdxlib.errors import DataError

#: A switch (and constant, vector) name: UPPER_CASE like a Kconfig symbol.
NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")

_TOKEN_RE = re.compile(r"\s*(\(|\)|[A-Za-z_][A-Za-z0-9_]*)")

_Eval = Callable[[Mapping[str, bool]], bool]


@dataclass(frozen=True)
class _Cond:
    """A parsed boolean condition over a layout's switches."""

    text: str
    names: frozenset[str]
    fn: _Eval = field(compare=False, repr=False)

    def __call__(self, config: Mapping[str, bool]) -> bool:
        return self.fn(config)


_ALWAYS = _Cond("always", frozenset(), lambda c: True)
_NEVER = _Cond("never", frozenset(), lambda c: False)


def _tokens(text: str, path: Path, line: int | None) -> list[str]:
    """Split a condition into parentheses and words; DataError on any other character."""
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            if text[pos:].strip() == "":
                break
            raise DataError(f"condition {text!r}: unexpected character {text[pos:].strip()[0]!r}", path, line)
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens: expr := term ('or' term)*, term := factor ('and' factor)*."""

    def __init__(self, text: str, path: Path, line: int | None) -> None:
        self.text, self.path, self.line = text, path, line
        self.tokens = _tokens(text, path, line)
        self.idx = 0
        self.names: set[str] = set()

    def error(self, what: str) -> DataError:
        return DataError(f"condition {self.text!r}: {what}", self.path, self.line)

    def peek(self) -> str | None:
        return self.tokens[self.idx] if self.idx < len(self.tokens) else None

    def take(self) -> str:
        if self.idx >= len(self.tokens):
            raise self.error("ends too early")
        tok = self.tokens[self.idx]
        self.idx += 1
        return tok

    def parse(self) -> _Cond:
        fn = self.expr()
        if self.idx != len(self.tokens):
            raise self.error(f"unexpected {self.tokens[self.idx]!r}")
        return _Cond(self.text, frozenset(self.names), fn)

    def expr(self) -> _Eval:
        parts = [self.term()]
        while self.peek() == "or":
            self.take()
            parts.append(self.term())
        if len(parts) == 1:
            return parts[0]
        return lambda c: any(p(c) for p in parts)

    def term(self) -> _Eval:
        parts = [self.factor()]
        while self.peek() == "and":
            self.take()
            parts.append(self.factor())
        if len(parts) == 1:
            return parts[0]
        return lambda c: all(p(c) for p in parts)

    def factor(self) -> _Eval:
        tok = self.take()
        if tok == "not":
            inner = self.factor()
            return lambda c: not inner(c)
        if tok == "(":
            inner = self.expr()
            if self.peek() != ")":
                raise self.error("missing ')'")
            self.take()
            return inner
        if tok == "always":
            return lambda c: True
        if tok == "never":
            return lambda c: False
        if tok in ("and", "or", ")"):
            raise self.error(f"unexpected {tok!r}")
        if not NAME_RE.match(tok):
            raise self.error(f"{tok!r} is not a switch name (UPPER_CASE)")
        self.names.add(tok)
        return lambda c: bool(c[tok])


def _parse_condition(raw: object, path: Path, line: int | None) -> _Cond:
    """Parse a condition text (or a YAML bool) into a :class:`_Cond`; DataError names file and line."""
    if raw is True:
        return _ALWAYS
    if raw is False:
        return _NEVER
    if not isinstance(raw, str) or not raw.strip():
        raise DataError(f"condition must be a non-empty string or a bool, got {raw!r}", path, line)
    return _Parser(raw.strip(), path, line).parse()
