"""Fuzzing the parsers: captured kernel files (garbled copies of real ones and random text), CPU lists
and masks, layout conditions, a notebook's parameters cell, notebook JSON and YAML text. Only
TdxlibError comes out; what parses goes on to the next stage (a VECTOR dump to a load, an estimate)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzing import FUZZ, fresh, garbled, only_tdxlib_errors
from hypothesis import given
from hypothesis import strategies as st

from tdxlib.data import data_path, load_yaml_text
from tdxlib.ingest.affinity import parse_affinity_table, parse_cpulist, parse_cpumask
from tdxlib.ingest.dumpload import load_from_dump
from tdxlib.ingest.estimate import estimate_load
from tdxlib.ingest.procinterrupts import parse_proc_interrupts
from tdxlib.ingest.vectordump import parse_vector_dump
from tdxlib.kernel.matrix import IrqMatrix, bitmap_parselist
from tdxlib.kernel.vectors.kconfig import _parse_condition
from tdxlib.report.config import read_notebook_json
from tdxlib.report.paramcell import parse_parameters_source

CAPTURE = data_path("captures", "constructed-2s-128cpu-nvme-nic")
SMALL = data_path("captures", "sandbox-vm-2cpu-6.18")
INTERRUPTS = (SMALL / "interrupts.txt").read_text()
AFFINITY = (SMALL / "irq_affinity.txt").read_text()
VECTOR = "\n".join((CAPTURE / "VECTOR.txt").read_text().splitlines()[:40]) + "\n"
junk = st.text(max_size=400) | st.text(alphabet="0123456789,- x\n:", max_size=200)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-parsers")


@FUZZ
@given(text=garbled(INTERRUPTS) | junk, affinity=garbled(AFFINITY) | junk)
def test_proc_interrupts_and_affinities_then_an_estimate(text: str, affinity: str) -> None:
    def chain() -> None:
        pi = parse_proc_interrupts(text, "interrupts.txt")
        aff = parse_affinity_table(affinity, "irq_affinity.txt")
        estimate_load(pi, aff, "linux-6.12")

    only_tdxlib_errors(chain)


@FUZZ
@given(text=garbled(VECTOR) | junk, strict=st.booleans())
def test_a_vector_dump_then_its_load(text: str, strict: bool) -> None:
    only_tdxlib_errors(lambda: load_from_dump(parse_vector_dump(text, "VECTOR.txt", strict=strict)))


@FUZZ
@given(text=junk | st.sampled_from(["0-9999999999", "4294967295", "1-0", "", ",", "00000000,ffffffff" * 300]))
def test_cpu_lists_masks_and_bitmaps(text: str) -> None:
    for parse in (parse_cpulist, parse_cpumask, bitmap_parselist, lambda t: bitmap_parselist(t, 256)):
        only_tdxlib_errors(lambda parse=parse: parse(text))  # type: ignore[misc]


WORDS = st.sampled_from(["SMP", "KVM", " and ", " or ", "not ", "(", ")", "always", "x", "!", " "])


@FUZZ
@given(text=st.lists(WORDS, max_size=12).map("".join) | junk)
def test_layout_conditions(text: str) -> None:
    def parse_and_evaluate() -> None:
        cond = _parse_condition(text, Path("l.yaml"), 3)
        cond({name: len(name) % 2 == 0 for name in cond.names})  # the layout declares every name used

    only_tdxlib_errors(parse_and_evaluate)


@FUZZ
@given(
    source=st.text(max_size=300)
    | st.lists(
        st.sampled_from(
            [
                "x: int = 1  # [1..4]",
                "y: str = 'a'  # choices: a|b",
                "z = 3",
                "w: list[int] = [1, 2]",
                "v: float = 1e999",
                "import os",
                "u: int = (",
                "t: bool = True",
                "s: dict = {}",
            ]
        ),
        max_size=6,
    ).map("\n".join)
)
def test_a_parameters_cell(source: str) -> None:
    only_tdxlib_errors(lambda: parse_parameters_source(source, Path("nb.ipynb")))


@FUZZ
@given(
    raw=st.binary(max_size=500)
    | st.sampled_from([b"[]", b"{}", b'{"cells": 5}', b'{"cells": [{"cell_type": 3}]}', b"\xff"])
)
def test_notebook_json(folder: Path, raw: bytes) -> None:
    path = fresh(folder, suffix=".ipynb")
    path.write_bytes(raw)
    only_tdxlib_errors(lambda: read_notebook_json(path))


@FUZZ
@given(
    text=st.text(max_size=300)
    | st.sampled_from(
        ["a: &x [*x]", "!!python/object:os.system {}", "? [a]\n: 1", "a: !!binary ~~", "%YAML 9.9\n---\na: 1"]
    )
)
def test_yaml_text(text: str) -> None:
    only_tdxlib_errors(lambda: load_yaml_text(text, "t.yaml"))


@FUZZ
@given(sizes=st.tuples(*[st.integers(-3, 300) | st.sampled_from([10**12, 2**63]) for _ in range(4)]))
def test_matrix_sizes(sizes: tuple[int, int, int, int]) -> None:
    only_tdxlib_errors(lambda: IrqMatrix(*sizes))
