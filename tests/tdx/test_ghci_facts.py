"""tdxlib.tdx.ghci.facts: data/ghci read on first use, its errors, and the constants built from it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import tdxlib.data
from tdxlib import cache
from tdxlib.data import data_path
from tdxlib.errors import DataError
from tdxlib.tdx import ghci
from tdxlib.tdx.ghci import facts

# --- constants come from the data, with the values the kernel and QEMU use --------------------------


def test_module_constants_equal_the_yaml_read_independently() -> None:
    raw = yaml.safe_load(data_path("ghci", "leaves.yaml").read_text())
    for leaf in raw["leaves"].values():
        assert getattr(ghci, leaf["constant"]) == leaf["leaf"]
    status = yaml.safe_load(data_path("ghci", "status.yaml").read_text())
    for item in status["tdvmcall"] + status["get_quote"]:
        assert getattr(ghci, item["constant"]) == item["value"]


def test_values_that_other_modules_rely_on() -> None:
    # Cross-checked against QEMU tdx.h / tdx-quote-generator.h and Linux shared/tdx.h (see data/ghci).
    assert ghci.TDVMCALL_GET_QUOTE == 0x10002
    assert ghci.TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT == 0x10004
    assert ghci.TDVMCALL_STATUS_INVALID_OPERAND == 1 << 63
    assert ghci.GET_QUOTE_IN_FLIGHT == (1 << 64) - 1
    assert (ghci.EVENT_NOTIFY_VECTOR_MIN, ghci.EVENT_NOTIFY_VECTOR_MAX) == (32, 255)
    assert ghci.GET_QUOTE_MAX_BUF_LEN == 128 * 1024
    assert ghci.GET_QUOTE_MAX_IN_FLIGHT == 16


def test_every_leaf_and_status_cites_a_defined_source() -> None:
    for leaf in ghci.LEAVES.values():
        assert leaf.sources and set(leaf.sources) <= set(ghci.FACTS.sources)
    for sc in [*ghci.TDVMCALL_STATUS.values(), *ghci.GET_QUOTE_STATUS.values()]:
        assert sc.sources and set(sc.sources) <= set(ghci.FACTS.sources)


# --- broken data files ---------------------------------------------------------------------------------


def _copy_facts(tmp_path: Path) -> Path:
    d = tmp_path / "ghci"
    shutil.copytree(data_path("ghci"), d)
    return d


def test_undefined_source_is_a_data_error_with_file_and_line(tmp_path: Path) -> None:
    d = _copy_facts(tmp_path)
    p = d / "leaves.yaml"
    text = p.read_text().replace(
        "sources: [linux-shared-tdx-h, kvm-tdx-c]", "sources: [linux-shared-tdx-h, no-such-source]"
    )
    p.write_text(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "no-such-source" in s)
    with pytest.raises(DataError) as exc:
        ghci.load_facts(d)
    assert exc.value.path == p and exc.value.line == line and "no-such-source" in str(exc.value)


def test_header_gap_is_a_data_error(tmp_path: Path) -> None:
    d = _copy_facts(tmp_path)
    p = d / "get_quote.yaml"
    p.write_text(p.read_text().replace("offset: 16", "offset: 17"))
    with pytest.raises(DataError, match="gap"):
        ghci.load_facts(d)


def _data_copy(tmp_path: Path) -> Path:
    """A copy of data/ (without the machine captures) to break or edit."""
    d = tmp_path / "data"
    shutil.copytree(data_path(), d, ignore=shutil.ignore_patterns("captures"))
    return d


def _edit(path: Path, old: str, new: str) -> int:
    """Replace ``old`` by ``new`` once in ``path``; returns the line ``new`` starts on."""
    text = path.read_text()
    assert old in text
    text = text.replace(old, new, 1)
    path.write_text(text)
    first = new.splitlines()[0]
    return next(i for i, s in enumerate(text.splitlines(), 1) if first in s)


_FIRST_USE = """
import json, pathlib, sys
import tdxlib.data
tdxlib.data.DATA_DIR = pathlib.Path(sys.argv[1])
import tdxlib.tdx.ghci as ghci
import tdxlib.sim
from tdxlib.errors import DataError
errors = []
for use in (
    lambda: ghci.GET_QUOTE_BUF_SIZE,
    lambda: ghci.QuoteBuffer.request(bytes(16)),
    lambda: ghci.check_setup_event_notify(ghci.SetupEventNotifyInterrupt(0x40)),
    lambda: tdxlib.sim.run(tdxlib.sim.Scenario(cpus=2, quotes=1)),
):
    try:
        use()
    except DataError as exc:
        errors.append([str(exc.path), exc.line, str(exc)])
print(json.dumps(errors))
"""


def test_a_broken_data_file_breaks_no_import_and_its_first_use_names_file_and_line(tmp_path: Path) -> None:
    d = _data_copy(tmp_path)
    p = d / "ghci" / "status.yaml"
    line = _edit(p, "value: 0x0000000000000001", "value: one")
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_USE, str(d)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr  # both imports succeeded
    errors = json.loads(done.stdout)
    assert len(errors) == 4  # every use raised, each time
    for path, at, message in errors:
        assert (path, at) == (str(p), line)
        assert "status.yaml:" in message and "'one'" in message


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """data/ as a copy the test may edit, in effect for this test only (every memo emptied around it)."""
    d = _data_copy(tmp_path)
    cache.clear_all()
    monkeypatch.setattr(tdxlib.data, "DATA_DIR", d)
    yield d
    monkeypatch.undo()
    cache.clear_all()


def test_an_edited_facts_file_is_read_again(data_dir: Path) -> None:
    p = data_dir / "ghci" / "get_quote.yaml"
    assert ghci.load_facts().limits["max_in_flight"] == 16
    _edit(p, "value: 16", "value: 32")
    assert ghci.load_facts().limits["max_in_flight"] == 32
    assert ghci.load_facts(data_dir / "ghci") is ghci.load_facts()  # unchanged files: read once


def test_the_constants_and_checks_follow_the_facts_in_effect(data_dir: Path) -> None:
    assert ghci.GET_QUOTE_MAX_BUF_LEN == 128 * 1024
    big = ghci.GetQuote(ghci.shared_gpa(0x7_0000_0000), 256 * 1024)
    assert ghci.check_get_quote(big) == ghci.TDVMCALL_STATUS_SUCCESS  # no buffer: no size check
    buf = ghci.QuoteBuffer.request(bytes(1024)).to_bytes(4096)
    assert ghci.check_get_quote(big, buf) == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    _edit(data_dir / "ghci" / "get_quote.yaml", "value: 131072", "value: 524288")
    leaves = data_dir / "ghci" / "leaves.yaml"
    _edit(
        leaves,
        "leaves:\n",
        "leaves:\n  Future:\n    constant: TDVMCALL_FUTURE\n    leaf: 0x10099\n"
        "    section: none\n    inputs: {}\n    outputs: {}\n    sources: [ghci-1.5]\n",
    )
    assert ghci.GET_QUOTE_MAX_BUF_LEN == 128 * 1024  # the facts of first use, until the caches are emptied
    cache.clear_all()
    assert ghci.GET_QUOTE_MAX_BUF_LEN == 512 * 1024 == ghci.FACTS.limits["max_buf_len"]
    assert ghci.check_get_quote(big, buf) == ghci.TDVMCALL_STATUS_SUCCESS
    assert ghci.TDVMCALL_FUTURE == 0x10099  # a leaf added to the data is an attribute too
    with pytest.raises(AttributeError, match="TDVMCALL_PAST"):
        ghci.TDVMCALL_PAST  # noqa: B018


def test_facts_are_frozen() -> None:
    f = ghci.load_facts()
    with pytest.raises(TypeError):
        f.limits["alignment"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        f.leaves["GetQuote"].inputs["R12"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        f.sources["ghci-1.0"]["title"] = "x"  # type: ignore[index]
    assert f == ghci.FACTS and ghci.LEAVES is ghci.FACTS.leaves


def test_module_constants_are_resolved_lazily_and_listed() -> None:
    assert set(ghci.__all__) <= set(dir(ghci))
    assert set(ghci.__all__) >= facts.CONSTANT_NAMES
    assert ghci.SetupEventNotifyInterrupt.leaf == ghci.TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT
    assert ghci.GetQuote(0x1000, 4096).leaf == ghci.TDVMCALL_GET_QUOTE
    with pytest.raises(AttributeError, match="no_such_name"):
        ghci.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_a_header_the_buffer_cannot_use_is_a_data_error_at_first_use(data_dir: Path) -> None:
    p = data_dir / "ghci" / "get_quote.yaml"
    text = p.read_text().replace("field: in_len", "field: IN").replace("field: out_len", "field: in_len")
    p.write_text(text.replace("field: IN", "field: out_len"))  # same sizes, swapped names
    assert ghci.load_facts().header[2].field == "out_len"  # the data itself is consistent
    with pytest.raises(DataError, match="version, status, in_len, out_len") as exc:
        ghci.QuoteBuffer.request(bytes(8)).to_bytes()
    assert exc.value.path == p


@pytest.mark.parametrize(
    ("fname", "old", "new", "field", "words"),
    [
        (
            "status.yaml",
            "value: 0x0000000000000001",
            "value: -1",
            "tdvmcall[1].value",
            "greater than or equal to 0",
        ),
        ("get_quote.yaml", "type: u32", "type: u16", "header[2].type", "'u64' or 'u32', got 'u16'"),
        ("leaves.yaml", "leaf: 0x10000", "leaf: '0x10000'", "leaves.GetTdVmCallInfo.leaf", "valid integer"),
        (
            "get_quote.yaml",
            "  default: 51",
            "  default: 64",
            "shared_bit.default",
            "less than or equal to 63",
        ),
        ("sources.yaml", "sources:\n", "sources:\n  colour: blue\n", "sources.colour", "a mapping of fields"),
    ],
)
def test_each_facts_file_is_validated_by_its_model(
    tmp_path: Path, fname: str, old: str, new: str, field: str, words: str
) -> None:
    d = _copy_facts(tmp_path)
    p = d / fname
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))
    with pytest.raises(DataError) as exc:
        ghci.load_facts(d)
    assert (exc.value.path, exc.value.field) == (p, field) and words in str(exc.value)
    marker = new.strip().splitlines()[-1].strip()
    assert exc.value.line == next(i for i, s in enumerate(p.read_text().splitlines(), 1) if marker in s)
