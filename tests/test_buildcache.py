"""tdxlib.buildcache: kernels of one report build share results, and compute each one only once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tdxlib import buildcache


def test_outside_a_build_nothing_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(buildcache.BUILD_CACHE_ENV, raising=False)
    calls: list[int] = []
    for _ in range(2):
        assert buildcache.shared("k", "n", {"a": 1}, lambda: calls.append(1) or len(calls)) == len(calls)
    assert len(calls) == 2


def test_a_value_is_computed_once_while_others_wait(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(buildcache.BUILD_CACHE_ENV, str(tmp_path))
    calls: list[int] = []

    def slow() -> str:
        calls.append(1)
        time.sleep(0.2)  # long enough for the other threads to ask while this one computes
        return "value"

    got: list[str] = []

    def ask() -> None:
        got.append(buildcache.shared("k", "n", [1, 2], slow))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["value"] * 3
    assert len(calls) == 1
    # a different key is a different value
    assert buildcache.shared("k", "n", [1, 3], lambda: "other") == "other"


def test_keys_that_are_not_plain_data_are_not_shared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(buildcache.BUILD_CACHE_ENV, str(tmp_path))
    assert buildcache.cache_file("k", "n", {"obj": object()}) is None
    calls: list[int] = []
    for _ in range(2):
        buildcache.shared("k", "n", object(), lambda: calls.append(1))
    assert len(calls) == 2
