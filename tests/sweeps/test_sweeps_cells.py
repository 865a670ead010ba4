"""tdxlib.sweeps.cells: a cell's seed and key depend on the cell and what it records, never on the rest
of the grid or on who runs it; batches keep to one partition and do not depend on the workers."""

from __future__ import annotations

from collections import Counter

from tdxlib.sweeps.cells import MAX_BATCH, batch_size, batches, cell_seed, enumerate_cells
from tdxlib.sweeps.spec import SweepSpec

AXES = {"strategy": ["system-vector", "polling"], "cpus": [2, 8]}


def _spec(**changes: object) -> SweepSpec:
    return SweepSpec(**{"name": "t", "seeds": 3, "axes": AXES, **changes})  # type: ignore[arg-type]


def test_every_cell_of_the_grid_once_in_order() -> None:
    cells = list(enumerate_cells(_spec(), "code"))
    assert len(cells) == 12
    assert len({c.key for c in cells}) == 12 and len({c.seed for c in cells}) == 12
    assert [dict(c.coords) for c in cells[:4:3]] == [
        {"strategy": "system-vector", "cpus": 2},
        {"strategy": "system-vector", "cpus": 8},
    ]
    assert [c.replicate for c in cells[:3]] == [0, 1, 2]
    assert all(0 <= c.seed < 2**62 for c in cells)


def test_a_cell_keeps_its_seed_and_key_when_an_axis_grows() -> None:
    old = {(c.coords, c.replicate): c for c in enumerate_cells(_spec(), "code")}
    wider = _spec(axes={"strategy": ["system-vector", "polling", "dynamic"], "cpus": [2, 8, 64]})
    new = {(c.coords, c.replicate): c for c in enumerate_cells(wider, "code")}
    assert len(new) == 27
    for where, cell in old.items():
        assert new[where] == cell


def test_the_seed_depends_on_the_root_seed_and_the_cell_only() -> None:
    cell = next(iter(enumerate_cells(_spec(), "code")))
    assert cell.seed == cell_seed(_spec(), cell.coords, cell.replicate)
    assert cell.seed == next(iter(enumerate_cells(_spec(base={"quotes": 5}), "other code"))).seed
    assert cell.seed != next(iter(enumerate_cells(_spec(seed=1), "code"))).seed


def test_the_key_changes_with_what_the_row_depends_on() -> None:
    def first_key(spec: SweepSpec, code: str = "code") -> str:
        return next(iter(enumerate_cells(spec, code))).key

    base = first_key(_spec())
    assert first_key(_spec()) == base
    assert first_key(_spec(), "new code") != base
    assert first_key(_spec(base={"quotes": 5})) != base
    assert first_key(_spec(metrics=["completed"])) != base
    assert first_key(_spec(claims=["notify-works"])) != base
    assert first_key(_spec(seed=9)) != base
    assert first_key(_spec(batch=2)) == base  # how cells are grouped is no input of a cell


def test_batches_keep_to_one_partition_and_cover_every_cell_once() -> None:
    spec = _spec(batch=5)
    cells = list(enumerate_cells(spec, "code"))
    cut = batches(spec, cells)
    assert Counter(c.key for b in cut for c in b.cells) == Counter(c.key for c in cells)
    for b in cut:
        assert {dict(c.coords)["strategy"] for c in b.cells} == {b.partition}
        assert 1 <= len(b.cells) <= 5
    assert [b.key for b in cut] == [b.key for b in batches(spec, cells)]


def test_the_automatic_batch_depends_on_the_cell_count_only() -> None:
    assert batch_size(_spec()) == 1
    big = _spec(axes={"cpus": list(range(1, 101)), "hz": [100, 250, 300, 1000]}, seeds=50)
    assert batch_size(big) == MAX_BATCH
    assert batch_size(_spec(batch=7)) == 7
