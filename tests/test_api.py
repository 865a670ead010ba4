"""The public API: the package docstring lists exactly ``__all__``, and every name resolves."""

from __future__ import annotations

import re
import subprocess
import sys

import tdxlib


def test_docstring_lists_exactly_all() -> None:
    listed = set(re.findall(r"``(\w+)``", tdxlib.__doc__ or ""))
    listed.discard("tdxlib")  # "import tdxlib" in the prose
    assert listed == set(tdxlib.__all__) - {"__version__"}


def test_every_public_name_resolves() -> None:
    for name in tdxlib.__all__:
        assert getattr(tdxlib, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        tdxlib.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_tdxlib_does_not_load_the_heavy_stack() -> None:
    code = (
        "import sys, tdxlib, tdxlib.cli; "
        "print(sorted(m for m in ('pandas', 'altair', 'papermill') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
