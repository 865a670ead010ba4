"""What the fuzz tests share: hypothesis settings (bounded, reproducible), random YAML trees with huge
and deeply nested values, mutations of a valid document, and the one assertion: only a TdxlibError."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tdxlib.errors import TdxlibError

#: Examples per fuzz test in ``make test`` (raise it to look harder: TDXLIB_FUZZ_EXAMPLES=2000).
EXAMPLES = int(os.environ.get("TDXLIB_FUZZ_EXAMPLES", "100"))

#: The same examples on every run (CI must not find something new by chance); each within 2 s.
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=2000,
    derandomize=os.environ.get("TDXLIB_FUZZ_RANDOM") is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

_names = itertools.count()


def fresh(folder: Path, suffix: str = ".yaml", stem: str = "f") -> Path:
    """A file name not used before in this session (caches are keyed on a file's size and time)."""
    return folder / f"{stem}-{next(_names)}{suffix}"


# --- values ----------------------------------------------------------------------------------------------

huge_ints = st.sampled_from([10**40, -(10**40), 2**63, 2**64, 2**64 - 1, -1, 0, 10**400])
odd_floats = st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 5e-324])
long_text = st.sampled_from(["x" * 3000, "\u0663" * 50, "a\x00b", "\ufeffname", "../../etc/passwd", "-1"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    odd_floats,
    st.text(max_size=20),
    long_text,
    st.dates(),
)
keys = st.one_of(
    st.text(max_size=12), st.integers(-5, 300), st.sampled_from(["name", "cpus", "value", "sources"])
)


def _deep(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


trees = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=6), st.dictionaries(keys, children, max_size=6)),
    max_leaves=40,
) | st.integers(1, 400).map(_deep)


def dump(value: Any) -> str:
    """YAML text of a random tree (as a user could have written it)."""
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)


# --- mutations of a valid document -----------------------------------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def mutate(data: st.DataObject, doc: Any) -> Any:
    """``doc`` (plain data) with one place replaced by a random tree, deleted, or given a new key."""
    paths = [p for p in _paths(doc) if p]
    if not paths:
        return data.draw(trees)
    path = data.draw(st.sampled_from(paths))
    *parent_path, last = path
    parent = doc
    for part in parent_path:
        parent = parent[part]
    action = data.draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    if action == "replace":
        parent[last] = data.draw(trees)
    elif action == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[data.draw(keys)] = data.draw(trees)
    else:
        parent.append(data.draw(trees))
    return doc


def plain(value: Any) -> Any:
    """A document read by tdxlib's reader as plain dicts and lists (deep-copied)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# --- the one assertion -----------------------------------------------------------------------------------


def only_tdxlib_errors(call: Callable[[], object]) -> None:
    """``call()`` may succeed or raise a TdxlibError; anything else is a bug the fuzzer found."""
    with contextlib.suppress(TdxlibError):
        call()


_GARBLE = st.sampled_from(
    [
        *"0123456789 \n\t:-,.abcXYZ\x00é\u0663",
        "CPU",
        "NMI:",
        "IPI0:",
        "   ",
        "\n\n",
        "9" * 30,
        "-1",
        "0x",
        "|",
    ]
)


@st.composite
def garbled(draw: st.DrawFn, base: str) -> str:
    """``base`` with a few characters or words inserted, deleted, replaced, or the text cut short."""
    text = base
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate"]))
        s = draw(_GARBLE)
        if op == "insert":
            text = text[:i] + s + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 12)) :]
        elif op == "replace":
            text = text[:i] + s + text[i + len(s) :]
        elif op == "truncate":
            text = text[:i]
        else:
            line_start = text.rfind("\n", 0, i) + 1
            line_end = text.find("\n", i)
            line = text[line_start : (line_end if line_end >= 0 else len(text))]
            text = text[:line_start] + line + "\n" + text[line_start:]
    return text
