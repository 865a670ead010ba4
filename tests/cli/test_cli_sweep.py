"""``tdxlib sweep``: the shipped specs listed, a sweep run and resumed from the command line, usage
errors (exit 2) and tdxlib errors (one line, exit 1), and Ctrl-C (exit 130, resumed by the same
command)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tdxlib.cli import main

BIN = Path(sys.executable).parent


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["sweep", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_names_the_shipped_specs_and_their_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--list")
    assert code == 0
    assert "default" in out and "2,016 cells" in out and "large" in out and "quick" in out


def test_a_sweep_runs_then_resumes_with_nothing_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, "quick", "--out", str(tmp_path), "--workers", "1", "-q")
    assert code == 0, err
    assert "quick: 48 cells run, 0 already in" in out and "1 workers" in out
    assert "notify-works" in out and "holds in" in out and "cells" in out
    code, out, _ = run_cli(capsys, "quick", "--out", str(tmp_path), "-q")
    assert code == 0 and "0 cells run, 48 already in" in out and "no worker needed" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["quick"],
        ["--out", "x"],
        ["quick", "--out", "x", "--workers", "0"],
        ["quick", "--workers", "2", "--scheduler", "tcp://x:1"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["sweep", *argv])
    assert stop.value.code == 2
    assert "usage: tdxlib sweep" in capsys.readouterr().err


def test_an_unknown_spec_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "no-such-sweep", "--out", str(tmp_path))
    assert code == 1 and not out
    assert err.count("\n") == 1 and "tdxlib sweep: error:" in err and "default" in err


def test_a_bad_spec_file_names_file_line_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\naxes:\n  cpus: [2, 0]\n", encoding="utf-8")
    code, _, err = run_cli(capsys, str(spec), "--out", str(tmp_path / "out"))
    assert code == 1 and f"{spec}:3: axes.cpus[1]:" in err


@pytest.mark.cluster
def test_ctrl_c_exits_130_and_the_same_command_goes_on(tmp_path: Path) -> None:
    spec = tmp_path / "slow.yaml"
    spec.write_text(
        "name: slow\nseeds: 4\nbatch: 1\n"
        "base: {kernel: linux-6.12, layout: linux-5.19-tdx-v8, workload: open, quotes: 60, cpus: 8,"
        " hotplug_every_s: 1.0}\n"
        "axes:\n"
        "  strategy: [system-vector, caller-vcpu, polling]\n"
        "  device_irqs: {per_cpu: [0, 100, 160, 180, 190, 195]}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    argv = [str(BIN / "tdxlib"), "sweep", str(spec), "--out", str(out), "--workers", "2", "-q"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("cells/*/*.parquet")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "of 72 cells are in" in err and "run the same command again" in err
    written = int(err.split("interrupted: ")[1].split(" of ")[0])
    assert 1 <= written < 72
    again = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{72 - written} cells run, {written} already in" in again.stdout
