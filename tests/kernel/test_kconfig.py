"""tdxlib.kernel.vectors.kconfig: the condition language of a layout file (not/and/or, parentheses).

Conditions are checked against Python's own ``not``/``and``/``or`` on the same expression tree, which
has the same precedence (not > and > or), for random trees and switch values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxlib.errors import DataError
from tdxlib.kernel.vectors.kconfig import _parse_condition

PATH = Path("layout.yaml")
SWITCHES = ("SMP", "KVM", "HYPERV", "X86_LOCAL_APIC")

# an expression tree: a switch name, ("not", t), ("and", t, t), ("or", t, t), ("()", t)
_leaf = st.sampled_from((*SWITCHES, "always", "never"))
_tree = st.recursive(
    _leaf,
    lambda sub: st.one_of(
        st.tuples(st.just("not"), sub),
        st.tuples(st.sampled_from(["and", "or"]), sub, sub),
        st.tuples(st.just("()"), sub),
    ),
    max_leaves=12,
)


def _text(t: Any) -> str:
    if isinstance(t, str):
        return t
    if t[0] == "not":
        return f"not {_text(t[1])}"
    if t[0] == "()":
        return f"({_text(t[1])})"
    return f"{_text(t[1])} {t[0]} {_text(t[2])}"


def _python(text: str, config: dict[str, bool]) -> bool:
    """The same text evaluated by Python (its not/and/or bind as the layout language's do)."""
    env = {**config, "always": True, "never": False}
    return bool(eval(text, {"__builtins__": {}}, env))  # the text is built from a fixed alphabet


@settings(max_examples=200, deadline=None)
@given(_tree, st.fixed_dictionaries({s: st.booleans() for s in SWITCHES}))
def test_a_condition_means_what_python_would_read(tree: Any, config: dict[str, bool]) -> None:
    text = _text(tree)
    cond = _parse_condition(text, PATH, 7)
    assert cond(config) is _python(text, config)
    assert cond.text == text
    assert cond.names == frozenset(
        w for w in text.replace("(", " ").replace(")", " ").split() if w in SWITCHES
    )


def test_precedence_not_then_and_then_or() -> None:
    c = _parse_condition("not SMP and KVM or HYPERV", PATH, 1)
    assert c({"SMP": False, "KVM": True, "HYPERV": False}) is True  # (not SMP and KVM) or HYPERV
    assert c({"SMP": True, "KVM": True, "HYPERV": False}) is False
    assert c({"SMP": True, "KVM": False, "HYPERV": True}) is True
    grouped = _parse_condition("not (SMP and KVM)", PATH, 1)
    assert grouped({"SMP": True, "KVM": False}) is True


def test_yaml_bools_are_always_and_never() -> None:
    assert _parse_condition(True, PATH, 1)({}) is True
    assert _parse_condition(False, PATH, 1)({}) is False
    assert _parse_condition(True, PATH, 1).text == "always"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("SMP and", "condition 'SMP and': ends too early"),
        ("(SMP or KVM", "condition '(SMP or KVM': missing ')'"),
        ("SMP KVM", "condition 'SMP KVM': unexpected 'KVM'"),
        ("SMP and or KVM", "condition 'SMP and or KVM': unexpected 'or'"),
        (")", "condition ')': unexpected ')'"),
        ("smp", "condition 'smp': 'smp' is not a switch name (UPPER_CASE)"),
        ("SMP && KVM", "condition 'SMP && KVM': unexpected character '&'"),
        ("  ", "condition must be a non-empty string or a bool, got '  '"),
        (3, "condition must be a non-empty string or a bool, got 3"),
    ],
)
def test_bad_conditions_name_the_text_file_and_line(raw: object, message: str) -> None:
    with pytest.raises(DataError) as exc:
        _parse_condition(raw, PATH, 42)
    assert exc.value.message == message
    assert exc.value.line == 42 and exc.value.path == PATH
