"""tdxlib.data: the one YAML reader; line numbers kept, every bad file a DataError naming file and line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tdxlib import data
from tdxlib.errors import DataError


def test_keys_and_items_know_their_lines() -> None:
    doc = data.load_yaml_text("a: 1\nb:\n  - x\n  - y\n", "f.yaml")
    assert doc.line_of("a") == 1 and doc.line_of("b") == 2
    assert doc["b"].item_lines == [3, 4]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: 1\ndate: 2022-13-45\n", 2, "2022-13-45"),
        ("x: !!timestamp 2020-99-99\n", 1, "timestamp"),
        ("a: 1\nb: 2\nn: " + "7" * 5000 + "\n", 3, "as int"),
        ("x: !!float abc\n", 1, "as float"),
        ("x: !!bool maybe\n", 1, "'maybe'"),
        ("x: !!python/object:os.system {}\n", 1, "constructor"),
        ("a: 1\na: 2\n", 2, "duplicate key"),
        ("a: 1\nb: \x1f\n", 2, "unacceptable character #x001f"),  # found by fuzzing: two lines before
        ("a: 1\nb: \ud800\n", 2, "not valid text"),  # found by fuzzing: UnicodeEncodeError before
    ],
)
def test_values_yaml_cannot_build_name_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(DataError) as info:
        data.load_yaml_text(text, "bad.yaml")
    assert info.value.path == "bad.yaml" and info.value.line == line
    assert words in str(info.value)


def test_an_alias_bomb_is_refused_quickly_with_the_bound() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    started = time.perf_counter()
    with pytest.raises(DataError, match=r"more than 100,000 nodes"):
        data.load_yaml_text("\n".join(lines) + "\n", "bomb.yaml")
    assert time.perf_counter() - started < 5  # refused from the node graph, never expanded


def test_a_few_reused_anchors_are_fine() -> None:
    doc = data.load_yaml_text("base: &b {x: 1}\none: *b\ntwo: *b\n", "ok.yaml")
    assert doc["one"] == doc["two"] == {"x": 1}


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(DataError, match="nest"):
        data.load_yaml_text("[" * 20000 + "]" * 20000, "deep.yaml")


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="larger than 4 MiB"):
        data.load_yaml("/dev/zero")
    big = tmp_path / "big.yaml"
    big.write_text("a: 1\n" + "#" * data.MAX_YAML_BYTES + "\n")
    with pytest.raises(DataError, match="larger than 4 MiB") as info:
        data.load_yaml(big)
    assert info.value.path == big


def test_unreadable_files_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        data.load_yaml(tmp_path / "missing.yaml")
    with pytest.raises(DataError, match="is a directory"):
        data.load_yaml(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"a: 1\nb: 2\nc: \xff\xfe\n")
    with pytest.raises(DataError, match="not UTF-8") as info:
        data.load_yaml(binary)
    assert info.value.line == 3
