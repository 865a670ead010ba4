"""Fuzzing the command line: random options and values and random files for every sub-command. A run
ends with exit 0, a clean 1 (one line naming the path and the cause) or a usage error 2; never a
traceback and never an internal error."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from fuzzing import FUZZ, dump, fresh, garbled, trees
from hypothesis import event, given
from hypothesis import strategies as st

from tdxlib.cli import main
from tdxlib.cli.schema import KINDS
from tdxlib.data import data_path
from tdxlib.tdx.strategies import STRATEGY_NAMES
from tdxlib.tdx.vmm import profile_names

JUNK = st.sampled_from(
    ["", "-1", "0", "nan", "inf", "1e999", "x", "7" * 50, "../x", "\u0663", "--", "-"]
) | st.text(max_size=8)
INTS = st.integers(-2, 64).map(str) | JUNK
NUMBERS = st.sampled_from(["0.5", "1", "2.5", "0", "-1", "nan", "inf", "1e-9"]) | JUNK
#: A run's length: small (a long run is no bad input, only a slow test) or invalid.
SHORT = st.sampled_from(["0.5", "1", "2.5", "0", "-1", "nan", "inf", "1e-9", "x", "", "--"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-cli")


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


def _clean(argv: list[str]) -> None:
    code, err = _run(argv)
    event(f"{argv[0]}: exit {code}")
    assert code in (0, 1, 2), (argv, code, err)
    assert "internal error" not in err and "Traceback" not in err, (argv, err)
    if (
        code == 1
        and err.startswith("tdxlib ")
        and ": error: " in err
        and "invalid report parameter" not in err
    ):
        assert err.count("\n") == 1, (argv, err)  # one line (a list of parameter problems: one each)


def _yaml_file(folder: Path, content: Any) -> str:
    path = fresh(folder)
    path.write_text(content if isinstance(content, str) else dump(content))
    return str(path)


SIM_FLAGS: dict[str, st.SearchStrategy[str] | None] = {
    "--cpus": st.integers(1, 64).map(str) | JUNK,
    "--device-irqs": INTS,
    "--layout": st.sampled_from(["linux-6.12", "linux-5.19-tdx-v8", "nope"]) | JUNK,
    "--poll-ms": st.integers(1, 50).map(str) | JUNK,
    "--timeout-s": NUMBERS,
    "--service-ms": NUMBERS,
    "--rate": NUMBERS,
    "--requesters": INTS,
    "--quotes": st.integers(0, 20).map(str) | SHORT,
    "--duration": SHORT,
    "--hotplug-every": NUMBERS,
    "--hz": st.sampled_from(["100", "250", "300", "1000", "7"]) | JUNK,
    "--seed": INTS,
    "--strategy": st.sampled_from([*STRATEGY_NAMES, "dynamic-apic"]) | JUNK,
    "--vmm": st.sampled_from(profile_names()) | JUNK,
    "--format": st.sampled_from(["table", "json"]) | JUNK,
    "--closed-loop": None,
    "--open": None,
}


@FUZZ
@given(data=st.data())
def test_sim(folder: Path, data: st.DataObject) -> None:
    chosen = data.draw(st.lists(st.sampled_from(list(SIM_FLAGS)), max_size=6, unique=True))
    argv = ["sim"]
    for flag in chosen:
        argv.append(flag)
        value = SIM_FLAGS[flag]
        if value is not None:
            argv.append(data.draw(value))
    if data.draw(st.booleans()):
        argv += ["--scenario", _yaml_file(folder, data.draw(trees | st.just({"cpus": 4, "quotes": 2})))]
    if "--quotes" not in chosen and "--duration" not in chosen:
        argv += ["--quotes", "3"]
    _clean(argv)


@FUZZ
@given(data=st.data())
def test_report_list_proposals_and_schema(folder: Path, data: st.DataObject) -> None:
    tree = data.draw(trees)
    argv = data.draw(
        st.sampled_from(
            [
                ["report", "--list", "--config", _yaml_file(folder, tree)],
                ["report", "--list", "--only", data.draw(JUNK), "--reduced"],
                ["proposals", "check", _yaml_file(folder, tree)],
                [
                    "proposals",
                    "eval",
                    _yaml_file(folder, tree),
                    "--suite",
                    data.draw(st.sampled_from(["quick", "x"])),
                ],
                ["proposals", "eval", "caller-vcpu", "--jobs", data.draw(INTS), "--suite", "nope"],
                [
                    "proposals",
                    "new",
                    "--out",
                    str(fresh(folder)),
                    *data.draw(st.sampled_from([[], ["--force"]])),
                ],
                ["proposals", "new", "--out", str(folder)],
                ["proposals", "schema", "--check", _yaml_file(folder, tree)],
                ["proposals", "schema", "--out", _yaml_file(folder, tree)],
                ["schema", data.draw(st.sampled_from([k.name for k in KINDS]) | JUNK)],
                ["schema", "reports", "--out", str(fresh(folder, ".json")), "--force"],
                ["schema", "vmm-profile", "--out", _yaml_file(folder, tree)],
                ["report", "--jobs", data.draw(INTS), "--timeout", data.draw(NUMBERS), "--list"],
                ["claims", "--kernel", data.draw(JUNK | st.just(_yaml_file(folder, tree))), "--only", "x"],
                ["claims", "--only", data.draw(JUNK), "--format", data.draw(st.sampled_from(["md", "x"]))],
                ["sim", "--kernel", _yaml_file(folder, tree), "--quotes", "1"],
            ]
        )
    )
    _clean(argv)


def _fake_root(folder: Path, data: st.DataObject) -> Path:
    real = data_path("captures", "sandbox-vm-2cpu-6.18")
    root = fresh(folder, suffix="", stem="root")
    (root / "proc" / "irq").mkdir(parents=True)
    (root / "proc" / "interrupts").write_text(data.draw(garbled((real / "interrupts.txt").read_text())))
    (root / "proc" / "version").write_text(data.draw(st.text(max_size=80) | st.just("Linux version 6.1.0 x")))
    for irq in data.draw(st.lists(st.integers(0, 40), max_size=4, unique=True)):
        d = root / "proc" / "irq" / str(irq)
        d.mkdir()
        for name in ("smp_affinity_list", "effective_affinity_list", "node"):
            if data.draw(st.booleans()):
                (d / name).write_bytes(
                    data.draw(st.binary(max_size=12) | st.sampled_from([b"0-1\n", b"0\n", b"-1\n"]))
                )
    if data.draw(st.booleans()):
        vector = root / "sys" / "kernel" / "debug" / "irq" / "domains" / "VECTOR"
        vector.parent.mkdir(parents=True)
        vector.write_bytes(data.draw(st.binary(max_size=200)))
    return root


@FUZZ
@given(data=st.data())
def test_capture(folder: Path, data: st.DataObject) -> None:
    out = fresh(folder, suffix="", stem="out")
    name = data.draw(st.sampled_from(["box", "a.b_c-1"]) | JUNK)
    if data.draw(st.booleans()):  # something already there
        simple = re.fullmatch(r"[A-Za-z0-9._-]+", name) and name not in (".", "..")
        target = out / (name if simple else "box")
        target.parent.mkdir(parents=True, exist_ok=True)
        if data.draw(st.booleans()):
            target.mkdir(exist_ok=True)
            (target / "doc.txt").write_text("mine")
        else:
            target.write_text("mine")
    argv = ["capture", name, "--out", str(out), "--root", str(_fake_root(folder, data))]
    argv += data.draw(st.sampled_from([[], ["--force"], ["--description", "x\ny"]]))
    _clean(argv)
    for mine in out.rglob("doc.txt"):
        assert mine.read_text() == "mine"  # a user's file is never lost
