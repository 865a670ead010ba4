"""One way to write files: beside the target, then rename; and one way to lock a folder between processes.

Whatever tdxlib writes (a report, a summary, a capture, a proposal template, a cached value) is
written to a temporary file or folder in the target's own directory and moved into place with
``os.replace``, so a reader, a crash or a full disk never leaves half a file where a good one was.
:func:`lock` serialises processes that write into the same folder (two builds into one ``--out``);
:func:`shared_lock` lets them work side by side and tells the first one whether it is alone (so it may
clean up what a killed one left). :func:`write_requested` writes a file the user named (``--out``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tdxlib.errors import DataError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "lock",
    "replace_dir",
    "shared_lock",
    "temp_dir_beside",
    "write_requested",
]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o666) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and ``os.replace`` (readable by all, as
    a plain ``open(path, "w")`` would make it under the umask)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # name the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode & ~_umask())  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> bool:
    """Write ``text`` (UTF-8) to ``path`` atomically; False (nothing written) when it is unchanged."""
    path = Path(path)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write_bytes(path, text.encode("utf-8"))
    return True


def write_requested(path: Path, text: str, *, force: bool, what: str = "file") -> None:
    """Write ``text`` to a file the user named (``--out FILE``): atomically, never over a directory, and
    over an existing file only with ``force``; each refusal a DataError naming the path."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"is a directory; give the name of the {what} to write", path)
    if path.parent.exists() and not path.parent.is_dir():
        raise DataError(f"is not a directory: cannot hold {path.name}", path.parent)
    if (path.exists() or path.is_symlink()) and not force:
        raise DataError(f"exists; not overwritten (use --force to replace the {what})", path)
    atomic_write_bytes(path, text.encode("utf-8"))


def temp_dir_beside(target: Path) -> Path:
    """A new empty folder next to ``target`` (same file system, so it can be renamed into place)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))


def replace_dir(tmp: Path, target: Path) -> None:
    """Move the finished folder ``tmp`` to ``target``, replacing an existing folder there.

    The old folder is first renamed aside (within the same directory), then the new one renamed in,
    then the old one removed: at every moment ``target`` is either the whole old or the whole new
    folder. The caller decides whether the old folder may be replaced (see its own checks).
    """
    tmp, target = Path(tmp), Path(target)
    old = None
    if target.exists() or target.is_symlink():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
        os.replace(target, old / "x")
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old / "x", target)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def shared_lock(path: Path, *, when_alone: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold a shared lock on the file ``path`` (created if missing) for the duration, beside every other
    holder; when no other process holds it at the start, first run ``when_alone`` under the exclusive
    lock (e.g. remove what killed holders left behind: nobody else is using it). Where ``fcntl`` is
    missing (Windows) nothing is locked and ``when_alone`` is not run."""
    try:
        # fcntl does not exist on Windows
        import fcntl
    except ImportError:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            if when_alone is not None:
                when_alone()
        fcntl.flock(held, fcntl.LOCK_SH)  # from exclusive: at once; else once no cleaner holds it
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


@contextlib.contextmanager
def lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on the file ``path`` (created if missing); yields False, holding nothing,
    when ``wait`` is false and another process holds it. The lock goes with its holder's process, so a
    crashed holder never blocks the others. Where ``fcntl`` is missing (Windows) nothing is locked.
    """
    try:
        # fcntl does not exist on Windows
        import fcntl
    except ImportError:
        yield True
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
