"""The package's shape, checked: small modules, short functions, one cache policy, reasons for late imports.

Issue 14's rules as a test, so a change that breaks them fails `make test` (not only a reviewer's eye):
no module over 500 lines (the allocator, which mirrors one C file, aside), no function over 80 lines,
every memo registered through :mod:`tdxlib.cache`, and every import inside a function saying why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from paths import ROOT

PACKAGE = ROOT / "tdxlib"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
#: Modules that may exceed MAX_MODULE_LINES, and why.
LONG_MODULES = {"kernel/matrix.py": "mirrors kernel/irq/matrix.c function by function"}
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_the_package_has_sources() -> None:
    assert len(SOURCES) > 50


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_no_module_over_the_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if _rel(path) in LONG_MODULES:
        return
    assert lines <= MAX_MODULE_LINES, f"{_rel(path)} has {lines} lines (> {MAX_MODULE_LINES}): split it"


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_function_over_the_limit() -> None:
    long = [
        f"{_rel(p)}:{f.lineno} {f.name} ({f.end_lineno - f.lineno + 1} lines)"  # type: ignore[operator]
        for p in SOURCES
        for f in _functions(_tree(p))
        if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES  # type: ignore[operator]
    ]
    assert not long, "functions over 80 lines: " + "; ".join(long)


def _cache_decorators(tree: ast.AST) -> list[int]:
    """Lines where functools' caches are used directly (decorator, call or import)."""
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "functools":
            if any(a.name in ("lru_cache", "cache") for a in node.names):
                hits.append(node.lineno)
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ("lru_cache", "cache")
            and isinstance(node.value, ast.Name)
            and node.value.id == "functools"
        ):
            hits.append(node.lineno)
    return hits


def test_every_memo_goes_through_tdxlib_cache() -> None:
    direct = [
        f"{_rel(p)}:{line}" for p in SOURCES if _rel(p) != "cache.py" for line in _cache_decorators(_tree(p))
    ]
    assert not direct, "functools caches outside tdxlib.cache (use tdxlib.cache.memo): " + ", ".join(direct)


def test_the_cache_guard_sees_a_functools_cache() -> None:
    tree = ast.parse("import functools\n@functools.lru_cache\ndef f(): pass\n")
    assert _cache_decorators(tree) == [2]


def _late_imports_without_reason(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for fn in _functions(_tree(path)):
        for node in ast.walk(fn):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                own = lines[node.lineno - 1 : node.end_lineno]
                i = node.lineno - 2  # walk up through the imports of the same group to its comment
                while i >= 0 and lines[i].strip().startswith(("from ", "import ", ")")):
                    i -= 1
                above = lines[i].strip() if i >= 0 else ""
                if not any("#" in line for line in own) and not above.startswith("#"):
                    out.append(f"{_rel(path)}:{node.lineno}")
    return out


def test_every_import_inside_a_function_says_why() -> None:
    missing = [hit for p in SOURCES for hit in _late_imports_without_reason(p)]
    assert not missing, "imports inside functions without a one-line reason: " + ", ".join(missing)
