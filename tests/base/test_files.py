"""tdxlib.files: writes land whole or not at all, folders are swapped in one step, locks serialise."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from tdxlib import files


def test_atomic_write_replaces_and_reports_no_change(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    assert files.atomic_write_text(target, "one") is True
    assert files.atomic_write_text(target, "one") is False
    assert files.atomic_write_text(target, "two") is True
    assert target.read_text() == "two"
    assert stat.S_IMODE(target.stat().st_mode) & 0o044  # readable by others, like open(..., "w")
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]  # no temporary file left


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.txt"
    target.write_text("good")

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="No space"):
        files.atomic_write_text(target, "new")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_replace_dir_swaps_a_folder_in(tmp_path: Path) -> None:
    target = tmp_path / "capture"
    target.mkdir()
    (target / "old.txt").write_text("old")
    new = files.temp_dir_beside(target)
    (new / "new.txt").write_text("new")
    files.replace_dir(new, target)
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["capture"]  # nothing left beside it


def test_replace_dir_puts_the_old_folder_back_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "capture"
    target.mkdir()
    (target / "old.txt").write_text("old")
    new = files.temp_dir_beside(target)
    real = os.replace

    def second_fails(src: str, dst: str) -> None:
        if Path(src) == new:
            raise OSError(13, "Permission denied")
        real(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(OSError):
        files.replace_dir(new, target)
    assert (target / "old.txt").read_text() == "old"


def test_lock_serialises_and_can_be_tried(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    order: list[str] = []
    with files.lock(path) as mine:
        assert mine

        def other() -> None:
            with files.lock(path) as got:
                assert got
                order.append("other")

        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.2)
        order.append("first")
    t.join(5)
    assert order == ["first", "other"]
