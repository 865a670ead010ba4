"""Import-time savings for the report pipeline and for notebook kernels.

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
