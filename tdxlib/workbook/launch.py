"""How the workbook is opened: the JupyterLab (``make lab``) and Voilà (``make present``) command lines,
the JupyterLab settings they need, and :func:`serve`, which starts either on 127.0.0.1 for the browser
tests and ``benchmarks/bench_live.py``.

One place for what a real set-up needs: extra arguments passed through (``LAB_ARGS``), ``--allow-root``
when run as root (a container, a CI machine), the notebooks on the ``tdxlib`` kernel with no other
kernel to choose, and JupyterLab's news pop-up and update check off (offline, and nothing to click).
``python -m tdxlib.workbook.launch lab|present [ARGS...]`` runs the command; with
``TDXLIB_LAUNCH_DRY_RUN=1`` it prints it (one argument a line) instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "KERNEL",
    "LAB_SETTINGS",
    "Server",
    "lab_command",
    "main",
    "present_command",
    "serve",
    "write_lab_settings",
]

#: The kernel every notebook names in its metadata (``make`` installs it into .venv).
KERNEL = "tdxlib"
#: JupyterLab settings defaults of the workbook (an ``overrides.d`` file in the app settings folder):
#: no news pop-up, no update check (both would reach the network), and widget state never written into
#: a saved notebook (each chart's state carries its front-end code).
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": False},
}
#: Environment variable: print the command instead of running it.
DRY_RUN_ENV = "TDXLIB_LAUNCH_DRY_RUN"
_SETTINGS_FILE = "tdxlib.json"
#: tdxlib's Jupyter data folder: ``voila/templates/tdxlib``, Voilà's lab template without the CDN links.
_DATA = Path(__file__).with_name("jupyter")
VOILA_TEMPLATE = "tdxlib"


def _bin(name: str) -> str:
    """A console script of this environment (``.venv/bin/jupyter``), found next to its Python."""
    return str(Path(sys.executable).with_name(name))


def _is_root(euid: int | None) -> bool:
    if euid is None:
        euid = os.geteuid() if hasattr(os, "geteuid") else 1
    return euid == 0


def lab_settings_dir(prefix: str | os.PathLike[str] | None = None) -> Path:
    """JupyterLab's app settings folder of this environment (``<prefix>/share/jupyter/lab/settings``)."""
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "lab" / "settings"


def write_lab_settings(settings_dir: Path | None = None) -> Path:
    """Write :data:`LAB_SETTINGS` as ``overrides.d/tdxlib.json`` (only when it differs); the file's path."""
    path = (settings_dir or lab_settings_dir()) / "overrides.d" / _SETTINGS_FILE
    text = json.dumps(LAB_SETTINGS, indent=2, sort_keys=True) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path


def _kernel_args() -> list[str]:
    # Only the tdxlib kernel: the notebooks name it, and the launcher offers nothing else to pick.
    return [
        f"--KernelSpecManager.allowed_kernelspecs={KERNEL}",
        "--KernelSpecManager.ensure_native_kernel=False",
        f"--MappingKernelManager.default_kernel_name={KERNEL}",
    ]


def lab_command(
    notebook_dir: str | os.PathLike[str], extra: Sequence[str] = (), *, euid: int | None = None
) -> list[str]:
    """``jupyter lab`` on ``notebook_dir`` with the workbook's flags, then ``extra`` (``LAB_ARGS``)."""
    argv = [_bin("jupyter"), "lab", f"--ServerApp.root_dir={os.fspath(notebook_dir)}", *_kernel_args()]
    if _is_root(euid):
        argv.append("--allow-root")
    return [*argv, *extra]


def present_command(
    notebook_dir: str | os.PathLike[str], extra: Sequence[str] = (), *, euid: int | None = None
) -> list[str]:
    """Voilà on ``notebook_dir``: code hidden, widgets live, tracebacks shown, then ``extra``.

    Voilà serves its own pages and needs no ``--allow-root``; ``euid`` is accepted for symmetry.
    """
    del euid
    argv = [
        _bin("voila"),
        os.fspath(notebook_dir),
        "--strip_sources=True",
        "--show_tracebacks=True",
        f"--template={VOILA_TEMPLATE}",
    ]
    return [*argv, *extra]


def jupyter_path(environ: Mapping[str, str]) -> str:
    """``JUPYTER_PATH`` with tdxlib's data folder first (it holds the Voilà template)."""
    rest = environ.get("JUPYTER_PATH", "")
    return os.pathsep.join(p for p in (str(_DATA), rest) if p)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tdxlib.workbook.launch lab|present [NOTEBOOK_DIR] [ARGS...]``: run (or print) it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("lab", "present"):
        print("usage: python -m tdxlib.workbook.launch lab|present [--dir NOTEBOOK_DIR] [ARGS...]")
        return 2
    what, rest = args[0], args[1:]
    notebook_dir = "notebooks"
    if rest[:1] == ["--dir"] and len(rest) > 1:
        notebook_dir, rest = rest[1], rest[2:]
    extra = [a for part in rest for a in shlex.split(part)]  # LAB_ARGS arrive as one word or many
    lab = what == "lab"
    command = lab_command(notebook_dir, extra) if lab else present_command(notebook_dir, extra)
    if os.environ.get(DRY_RUN_ENV, "") not in ("", "0"):
        print("\n".join(command))
        if lab:
            print(f"# settings: {lab_settings_dir() / 'overrides.d' / _SETTINGS_FILE}")
        return 0
    if lab:
        write_lab_settings()
    else:
        os.environ["JUPYTER_PATH"] = jupyter_path(os.environ)
    os.execv(command[0], command)  # pragma: no cover - replaces this process


# --------------------------------------------------------------------------------------------------
# A server for the browser tests and the live benchmark
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """A running JupyterLab or Voilà: its base URL, token and process."""

    kind: str
    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def page(self, path: str) -> str:
        """The URL of ``path`` (``lab/tree/x.ipynb``, ``voila/render/x.ipynb``) with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.url}{path}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """A JSON request to the server's REST API (``api/contents/x.ipynb``)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited ({process.returncode}): {log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"server not up after {timeout:.0f} s: {log.read_text(errors='replace')[-2000:]}")


def _lab_user_settings(home: Path, user_settings: Mapping[str, Mapping[str, Any]]) -> None:
    for plugin, values in user_settings.items():
        package, _, name = plugin.partition(":")
        path = home / "settings" / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


@contextlib.contextmanager
def serve(
    kind: str,
    root: Path,
    *,
    user_settings: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = 60.0,
) -> Iterator[Server]:
    """JupyterLab (``kind="lab"``) or Voilà (``"present"``) on 127.0.0.1, a fresh port and token,
    serving ``root``; its own settings, workspaces and runtime folders, removed with it.

    The lab exposes ``window.jupyterapp`` (for a driver to run commands); ``user_settings`` are
    JupyterLab user settings per plugin id (e.g. autosave off).
    """
    port, token = free_port(), secrets.token_hex(16)
    root = root.resolve()  # the server runs in it: a relative path would name a folder inside it
    with tempfile.TemporaryDirectory(prefix="tdxlib-serve-") as tmp:
        home = Path(tmp)
        log = home / "server.log"
        env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "TDXLIB_HEADLESS": "0",
            "JUPYTER_PATH": jupyter_path(os.environ),
        }
        env.pop("TDXLIB_CHARTS", None)
        net = ["--ip=127.0.0.1", f"--port={port}", "--no-browser"]
        if kind == "lab":
            write_lab_settings()
            _lab_user_settings(home, user_settings or {})
            extra = [*net, f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True"]
            argv = lab_command(root, extra)
            path = "lab"
        else:
            argv = present_command(root, [*net, f"--token={token}", "--Voila.port_retries=0"])
            path = ""
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
        url = f"http://127.0.0.1:{port}/"
        try:
            _wait_up(f"{url}{path}?token={token}", proc, log, timeout)
            yield Server(kind, url, token, root, proc, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    raise SystemExit(main())
