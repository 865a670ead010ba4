"""Issue 15: every loader and command turns a value YAML cannot build into one clear error naming the
file and the line, and no bad input takes more than 1 GiB or 10 s (the size cases run in a subprocess
under ``resource.setrlimit``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from paths import FIXTURES, ROOT

from tdxlib.argument.claims import load_claims
from tdxlib.cli import main
from tdxlib.data import data_path
from tdxlib.errors import DataError, TdxlibError
from tdxlib.ingest import load_capture
from tdxlib.kernel.vectors import load_layout
from tdxlib.sim import Scenario
from tdxlib.tdx.ghci import load_facts
from tdxlib.tdx.vmm import load_profile

#: Values YAML itself cannot build (each was a traceback in every loader).
UNBUILDABLE = ["2022-13-45", "!!timestamp 2020-99-99", "7" * 5000, "!!float abc"]


def _file(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(f"# a file\nbad: {value}\n")  # the bad value on line 2
    return path


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("value", UNBUILDABLE)
@pytest.mark.parametrize(
    "command",
    [
        ["sim", "--scenario", "{f}"],
        ["proposals", "eval", "{f}"],
        ["report", "--list", "--config", "{f}"],
        ["sim", "--vmm", "{f}", "--quotes", "1"],
    ],
    ids=["sim", "proposals-eval", "report", "sim-vmm"],
)
def test_every_command_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], value: str
) -> None:
    f = _file(tmp_path, "f.yaml", value)
    err = _cli([a.replace("{f}", str(f)) for a in command], capsys)
    assert f"{f}:2: " in err


@pytest.mark.parametrize("value", UNBUILDABLE)
def test_proposals_check_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    f = _file(tmp_path, "p.yaml", value)
    assert main(["proposals", "check", str(f)]) == 1
    assert f"{f}:2: " in capsys.readouterr().err


def _capture(tmp_path: Path, bad: Path) -> object:
    cap = tmp_path / "cap"
    shutil.copytree(data_path("captures", "sandbox-vm-2cpu-6.18"), cap)
    shutil.copy(bad, cap / "manifest.yaml")
    return load_capture(cap)


def _facts(tmp_path: Path, bad: Path) -> object:
    d = tmp_path / "ghci"
    shutil.copytree(data_path("ghci"), d)
    shutil.copy(bad, d / "leaves.yaml")
    return load_facts(d)


@pytest.mark.parametrize("value", UNBUILDABLE)
@pytest.mark.parametrize(
    ("name", "load"),
    [
        ("profile.yaml", lambda tmp, f: load_profile(str(f))),
        ("bad.yaml", lambda tmp, f: load_layout(str(f))),
        ("claims.yaml", lambda tmp, f: load_claims(f)),
        ("manifest.yaml", _capture),
        ("leaves.yaml", _facts),
    ],
    ids=["vmm-profile", "vector-layout", "claims", "capture-manifest", "ghci-facts"],
)
def test_every_loader_names_file_and_line(
    tmp_path: Path, name: str, load: Callable[[Path, Path], object], value: str
) -> None:
    (tmp_path / "in").mkdir()
    f = _file(tmp_path / "in", name, value)
    with pytest.raises(DataError) as exc:
        load(tmp_path, f)
    assert exc.value.line == 2 and Path(str(exc.value.path)).name == name


# --- resources: no bad input takes more than 1 GiB or 10 s ----------------------------------------------

LIMIT = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
started = time.perf_counter()
from tdxlib.errors import TdxlibError
try:
{body}
except TdxlibError as exc:
    print("TdxlibError:", str(exc)[:300])
print("seconds", round(time.perf_counter() - started, 2))
"""


def _limited(body: str, tmp_path: Path) -> str:
    """Run ``body`` (indented into a try) in a Python limited to 1 GiB of address space; 10 s at most."""
    code = LIMIT.format(body=textwrap.indent(textwrap.dedent(body), "    "))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seconds = float(done.stdout.rsplit("seconds", 1)[1])
    assert seconds < 10, done.stdout
    return done.stdout


def _alias_bomb(key: str = "x", depth: int = 9, fan: int = 9) -> str:
    """A few hundred bytes that expand to fan**depth nodes."""
    lines = [f"a0: &a0 [{', '.join(['x'] * fan)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]" for i in range(1, depth)]
    return "\n".join(lines) + f"\n{key}: *a{depth - 1}\n"


def test_a_proposal_read_from_dev_zero(tmp_path: Path) -> None:
    """``load_proposal('/dev/zero')`` grew to 23 GB."""
    out = _limited(
        "from tdxlib.argument.proposals import load_proposal\nload_proposal('/dev/zero')", tmp_path
    )
    assert "larger than 4 MiB" in out


@pytest.mark.parametrize(
    "loader",
    [
        "from tdxlib.argument.proposals import load_proposal as load",
        "from tdxlib.report.config import load_config as load",
        "from tdxlib.sim import load_scenario as load",
        "from tdxlib.tdx.vmm import load_profile as load",
        "from tdxlib.argument.claims import load_claims as load",
    ],
)
def test_alias_bombs_are_refused_quickly(tmp_path: Path, loader: str) -> None:
    (tmp_path / "bomb.yaml").write_text(_alias_bomb())
    out = _limited(f"{loader}\nload('bomb.yaml')", tmp_path)
    assert "more than 100,000 nodes" in out


def test_a_small_reports_yaml_alias_bomb(tmp_path: Path) -> None:
    """A 679-byte reports.yaml alias bomb took 16 s and 1.3 GB."""
    nb = tmp_path / "notebooks"
    nb.mkdir()
    shutil.copy(FIXTURES / "fx_report.ipynb", nb)
    sets = "\n".join(f"    s{i}: {{cpus: *a8}}" for i in range(8))
    text = _alias_bomb("anchors").replace("\nanchors: *a8\n", "\n") + f"notebooks:\n  fx_report:\n{sets}\n"
    (nb / "reports.yaml").write_text(text)
    assert len(text) < 700
    out = _limited(
        "from tdxlib.report.config import load_config\nload_config('notebooks/reports.yaml')", tmp_path
    )
    assert "TdxlibError" in out and ("100,000 nodes" in out or "unknown field" in out)


@pytest.mark.parametrize("n", [400, 200])
def test_a_proposal_that_reuses_one_anchor_400_times(tmp_path: Path, n: int) -> None:
    """A 16 KB proposal reusing one ``sources:`` anchor (400 bad sources) in 400 annotations printed
    160,001 error lines (400 x 400 errors): now the reader refuses the expansion; with 200 x 200 (under
    the reader's bound) the errors are counted, at most 20 listed."""
    base = (ROOT / "data" / "proposals" / "caller-vcpu.yaml").read_text().split("\nannotations:\n")[0]
    note = (
        "  - {anchor: {section: '3.5'}, kind: question, author: A, date: 2022-06-20, text: t, sources: %s}\n"
    )
    text = base + "\nannotations:\n" + note % ("&s [" + ", ".join(["{}"] * n) + "]")
    text += "".join(note % "*s" for _ in range(n - 1))
    (tmp_path / "p.yaml").write_text(text)
    assert len(text) > 40 * n
    out = _limited(
        """
        from tdxlib.argument.proposals import check_proposal
        _, errors = check_proposal('p.yaml')
        print('errors', len(errors), sum(str(e).count(chr(10)) + 1 for e in errors))
        """,
        tmp_path,
    )
    count, lines = (int(x) for x in out.split("errors ", 1)[1].split()[:2])
    assert 1 <= count <= 21 and lines <= 21


@pytest.mark.parametrize(
    "body",
    [
        "from tdxlib.kernel.matrix import bitmap_parselist\nbitmap_parselist('0-9999999999')",
        "from tdxlib.kernel.matrix import IrqMatrix\nIrqMatrix(256, 32, 236, 10**12)",
        "from tdxlib.sim import Scenario\nScenario(cpus=10**12)",
        "from tdxlib.sim import Scenario\nScenario(requesters=10**12)",
    ],
)
def test_sizes_beyond_the_kernel_limits_are_refused(tmp_path: Path, body: str) -> None:
    assert "TdxlibError" in _limited(body, tmp_path)


def test_a_gzip_bomb_capture(tmp_path: Path) -> None:
    cap = tmp_path / "cap"
    shutil.copytree(data_path("captures", "sandbox-vm-2cpu-6.18"), cap)
    (cap / "interrupts.txt").unlink()
    import zlib

    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"0" * (1 << 20)
    bomb = b"".join(z.compress(chunk) for _ in range(1024)) + z.flush()  # 1 GiB of zeros, ~1 MB
    (cap / "interrupts.txt.gz").write_bytes(bomb)
    started = time.perf_counter()
    out = _limited("from tdxlib.ingest import load_capture\nload_capture('./cap')", tmp_path)
    assert "decompresses to more than 256 MiB" in out and time.perf_counter() - started < 20


@pytest.mark.parametrize(
    "call",
    [
        lambda: Scenario(vmm="x" * 3000),
        lambda: Scenario(kernel="x" * 3000),
        lambda: Scenario(layout="x" * 300 + ".yaml"),
        lambda: load_layout("y" * 3000),
        lambda: load_capture("z" * 3000),
        lambda: load_profile("q" * 300 + ".yaml"),
    ],
)
def test_a_name_no_file_can_have_is_a_tdxlib_error(call: Callable[[], object]) -> None:
    """Found by fuzzing: a 3,000-character VMM name was an OSError (File name too long)."""
    with pytest.raises(TdxlibError):
        call()
