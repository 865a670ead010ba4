"""tdxlib.cache: kernels of one report build share results, and compute each one only once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tdxlib import cache as buildcache


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


def test_kernels_asking_for_the_same_list_split_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(buildcache.BUILD_CACHE_ENV, str(tmp_path))
    items = [(f"item{i}", [i]) for i in range(6)]
    computed: list[tuple[str, int]] = []

    def compute(i: int) -> int:
        computed.append((threading.current_thread().name, i))
        time.sleep(0.15)  # the other "kernel" arrives while this one computes
        return i * i

    got: dict[str, list[int]] = {}

    def ask() -> None:
        got[threading.current_thread().name] = buildcache.shared_each("k", items, compute)

    threads = [threading.Thread(target=ask, name=f"kernel{n}") for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {"kernel0": [i * i for i in range(6)], "kernel1": [i * i for i in range(6)]}
    assert sorted(i for _, i in computed) == list(range(6))  # each value computed once
    assert {who for who, _ in computed} == {"kernel0", "kernel1"}  # by both: neither idled
    # outside a build every value is computed, nothing shared
    monkeypatch.delenv(buildcache.BUILD_CACHE_ENV)
    assert buildcache.shared_each("k", items[:2], lambda i: -i) == [0, -1]


def test_proposal_rows_shared_in_a_build_are_the_rows_computed_outside(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import pandas as pd

    from tdxlib.argument import proposals

    monkeypatch.delenv(buildcache.BUILD_CACHE_ENV, raising=False)
    outside = proposals.evaluate_all(["caller-vcpu", "polling-only"], "quick")
    monkeypatch.setenv(buildcache.BUILD_CACHE_ENV, str(tmp_path))
    first = proposals.evaluate_all(["caller-vcpu", "polling-only"], "quick")  # computes, stores
    assert len(list((tmp_path / "evaluations").glob("*.pkl"))) == 2  # one file per proposal
    again = proposals.evaluate_all(["polling-only", "caller-vcpu"], "quick")  # reads them back
    pd.testing.assert_frame_equal(first, outside)
    for pid in ("caller-vcpu", "polling-only"):
        pd.testing.assert_frame_equal(
            again[again.proposal == pid].reset_index(drop=True),
            outside[outside.proposal == pid].reset_index(drop=True),
        )


def test_memo_is_registered_and_cleared_by_clear_all() -> None:
    calls: list[int] = []

    @buildcache.memo(maxsize=4)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert square(3) == 9 and square(3) == 9
    assert calls == [3]
    assert any(m is square for m in buildcache.memos())
    buildcache.clear_all()
    assert square(3) == 9
    assert calls == [3, 3]


def test_a_registered_cache_is_cleared_by_clear_all() -> None:
    class Store:
        def __init__(self) -> None:
            self.values = {"a": 1}

        def cache_clear(self) -> None:
            self.values.clear()

        def cache_info(self) -> int:
            return len(self.values)

    store = buildcache.register(Store())
    assert any(m is store for m in buildcache.memos())
    buildcache.clear_all()
    assert store.values == {}


def test_memo_copy_hands_each_caller_its_own_value() -> None:
    @buildcache.memo(copy=list)
    def values() -> list[int]:
        return [1, 2]

    first = values()
    first.append(3)
    assert values() == [1, 2]
    assert values.cache_info().hits >= 1  # type: ignore[attr-defined]


def test_a_weighed_memo_keeps_what_fits_its_budget_least_recent_out_first() -> None:
    calls: list[int] = []

    @buildcache.memo(maxsize=10, weigh=len, copy=list)
    def cells(n: int) -> list[int]:
        calls.append(n)
        return list(range(n))

    for n in (1, 2, 3, 4):  # weights 1 + 2 + 3 + 4 = 10: all kept
        cells(n)
    for n in (1, 2, 3, 4):
        assert cells(n) == list(range(n))
    assert calls == [1, 2, 3, 4]
    cells(5)  # 15 > 10: the least recently used go until it fits (1, 2 and 3)
    cells(4)
    assert calls == [1, 2, 3, 4, 5]
    cells(1)
    assert calls == [1, 2, 3, 4, 5, 1]
    heavy = cells(11)  # heavier than the budget: computed and returned, never kept
    assert heavy == list(range(11)) and cells(11) == heavy and calls[-2:] == [11, 11]
    got = cells(4)
    got.append(99)  # copy= still hands each caller its own
    assert cells(4) == [0, 1, 2, 3]
    info = cells.cache_info()  # type: ignore[attr-defined]
    assert info.maxsize == 10 and info.currsize <= 10
    buildcache.clear_all()
    cells(4)
    assert calls[-1] == 4 and cells.cache_info().currsize == 4  # type: ignore[attr-defined]


def test_a_weighed_memo_needs_a_budget() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        buildcache.memo(maxsize=None, weigh=len)(list)


def test_stat_key_changes_when_a_file_is_edited(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text("a: 1\n")
    before = buildcache.stat_key(f)
    f.write_text("a: 22\n")
    assert buildcache.stat_key(f) != before
    assert buildcache.stat_key(tmp_path / "missing")[0][1:] == (-1, -1)


def test_glob_key_sees_files_added_and_removed(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a: 1\n")
    one = buildcache.glob_key(tmp_path)
    (tmp_path / "b.yaml").write_text("b: 1\n")
    two = buildcache.glob_key(tmp_path)
    assert one != two and len(two) == len(one) + 1
    (tmp_path / "b.yaml").unlink()
    assert len(buildcache.glob_key(tmp_path)) == len(one)
