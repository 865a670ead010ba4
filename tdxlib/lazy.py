"""Import-time savings for the report pipeline, notebook kernels and the CLI.

:func:`lazy_exports` gives a package public names that import their module on first use (PEP 562), so
``import tdxlib`` stays cheap.

``jsonschema`` (pulled in by nbformat and altair) imports ``rfc3987_syntax``, which compiles a lark
grammar at import: about 2 s on every process start, for a format check (``iri``) we never use at
start-up. :func:`defer_rfc3987_syntax` puts a small stand-in in ``sys.modules`` that imports the real
module on the first actual check, so behaviour is unchanged and the cost is paid only when needed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_NAME = "rfc3987_syntax"


def defer_rfc3987_syntax() -> None:
    """Make ``import rfc3987_syntax`` free until ``is_valid_syntax`` is first called (idempotent)."""
    if _NAME in sys.modules or "jsonschema" in sys.modules:
        return  # already imported (for real or deferred), or too late to matter
    if importlib.util.find_spec(_NAME) is None:
        return  # not installed: jsonschema skips the check by itself
    stub = types.ModuleType(_NAME, "Deferred stand-in for rfc3987_syntax (see tdxlib.lazy).")

    def is_valid_syntax(term: str, value: str) -> bool:
        """Forward to the real ``rfc3987_syntax.is_valid_syntax``, importing it on first use."""
        if sys.modules.get(_NAME) is stub:
            del sys.modules[_NAME]
        real = importlib.import_module(_NAME)
        return bool(real.is_valid_syntax(term, value))

    stub.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    sys.modules[_NAME] = stub


def lazy_exports(
    package: str, exports: Mapping[str, str], also: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` (PEP 562): each public name in ``exports`` (name ->
    the module defining it) is imported on first use and then kept in the package; ``also`` lists
    public names the package defines itself."""
    public = sorted({*exports, *also})

    def __getattr__(name: str) -> Any:
        source = exports.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return list(public)

    return __getattr__, __dir__
