"""``make lab`` and ``make present`` for real set-ups: extra arguments passed through, --allow-root as root,
the tdxlib kernel alone, JupyterLab's news off; nbstripout keeps committed notebooks as they are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT

from tdxlib.workbook import launch


def test_lab_as_root_adds_allow_root_and_passes_extra_arguments() -> None:
    argv = launch.lab_command("notebooks", ["--ip", "0.0.0.0", "--port", "8890", "--no-browser"], euid=0)
    assert argv[1] == "lab" and "--allow-root" in argv
    assert argv[-5:] == ["--ip", "0.0.0.0", "--port", "8890", "--no-browser"]
    assert f"--KernelSpecManager.allowed_kernelspecs={launch.KERNEL}" in argv
    assert f"--MappingKernelManager.default_kernel_name={launch.KERNEL}" in argv
    assert "--allow-root" not in launch.lab_command("notebooks", euid=1000)


def test_lab_settings_turn_the_news_and_widget_state_saving_off(tmp_path: Path) -> None:
    path = launch.write_lab_settings(tmp_path)
    assert path == tmp_path / "overrides.d" / "tdxlib.json"
    settings = json.loads(path.read_text())
    notes = settings["@jupyterlab/apputils-extension:notification"]
    assert notes == {"fetchNews": "false", "checkForUpdates": False}
    assert settings["@jupyter-widgets/jupyterlab-manager:plugin"]["saveState"] is False


def test_present_hides_code_and_passes_extra_arguments() -> None:
    argv = launch.present_command("notebooks", ["--port", "8867"])
    assert (
        Path(argv[0]).name == "voila" and "--strip_sources=True" in argv and argv[-2:] == ["--port", "8867"]
    )


def _make(target: str, args: str, tmp_path: Path) -> list[str]:
    # not the flags of a make running this suite (`make -C DIR test` makes a sub-make print directories)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env |= {
        launch.DRY_RUN_ENV: "1",
        "GIT_DIR": str(tmp_path / "no-git"),  # the git filter step finds no repository to configure
    }
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "-C", str(ROOT), target, args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.mark.skipif(sys.platform != "linux", reason="make and a POSIX euid")
def test_make_lab_passes_lab_args_and_allows_root(tmp_path: Path) -> None:
    lines = _make("lab", "LAB_ARGS=--ip 127.0.0.1 --port 8890 --no-browser", tmp_path)
    assert lines[1] == "lab" and lines[2] == "--ServerApp.root_dir=notebooks"
    assert lines[-6:-1] == ["--ip", "127.0.0.1", "--port", "8890", "--no-browser"]
    assert ("--allow-root" in lines) == (os.geteuid() == 0)
    assert lines[-1].startswith("# settings: ")


@pytest.mark.skipif(sys.platform != "linux", reason="make")
def test_make_present_runs_voila_on_the_notebooks(tmp_path: Path) -> None:
    lines = _make("present", "PRESENT_ARGS=--port 8867 --no-browser", tmp_path)
    assert (
        Path(lines[0]).name == "voila"
        and lines[1] == "notebooks"
        and lines[-3:] == ["--port", "8867", "--no-browser"]
    )


def test_notebooks_are_filtered_by_nbstripout_and_it_leaves_them_unchanged() -> None:
    attributes = (ROOT / ".gitattributes").read_text()
    assert "*.ipynb filter=nbstripout" in attributes
    makefile = (ROOT / "Makefile").read_text()
    assert "-m nbstripout --keep-id" in makefile and "lab: $(STAMP) git-filter" in makefile
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        text = nb.read_text(encoding="utf-8")
        out = subprocess.run(
            [sys.executable, "-m", "nbstripout", "--keep-id", "-t"],
            input=text,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == json.loads(text), f"{nb.name}: the commit filter would change it"
