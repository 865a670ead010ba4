"""One cache policy: every memo registered here, data keyed on its files, results shared by a build.

- :func:`memo` is ``functools.lru_cache`` registered in one list, so :func:`clear_all` empties every
  cache tdxlib keeps (a test checks that no module caches any other way). ``copy=`` hands each
  caller its own copy of a mutable value (a frame, a list): nothing cached is shared between callers.
  ``weigh=`` bounds the memo by the total weight of its values instead of their number (a
  ``cachetools.LRUCache`` with ``getsizeof``): a few large values or many small ones.
- A cache of something read from ``data/`` takes :func:`stat_key` / :func:`glob_key` of the files in
  its key (path, size, modification time), so a file edited during a session is read again.
- :func:`hash_tree` fingerprints a folder's files; :func:`code_key` is tdxlib's source and data in one
  key, what a result computed by the models depends on (a report run, a sweep cell).
- :func:`shared` and :func:`shared_each` share results between the kernels of one ``tdxlib report``
  build: the build points :data:`BUILD_CACHE_ENV` at a folder named after the tdxlib source and data
  version, so the first kernel computes and the others read; a kernel that asks while another is
  computing the same thing waits for it (a file lock) instead of computing it twice. Outside a build
  the variable is unset and nothing is shared: interactive work always computes.

Base layer: imports only other base modules (``files``, ``data``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

import cachetools
import cachetools.keys

from tdxlib import files
from tdxlib.data import DATA_DIR

T = TypeVar("T")
P = ParamSpec("P")

# --------------------------------------------------------------------------------------------------
# In-process memos
# --------------------------------------------------------------------------------------------------

#: Every memo tdxlib keeps (``functools.lru_cache`` wrappers), in registration order.
_MEMOS: list[Any] = []


def memo(
    maxsize: int | None = 128,
    *,
    typed: bool = False,
    copy: Callable[[Any], Any] | None = None,
    weigh: Callable[[Any], int] | None = None,
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """``functools.lru_cache(maxsize, typed)``, registered for :func:`clear_all`.

    ``copy`` is applied to the cached value on every call (e.g. ``pd.DataFrame.copy``), so a caller
    that changes what it got cannot change what the next caller gets. Frozen values need none.
    With ``weigh``, ``maxsize`` is the most total weight kept (least recently used values go first); a
    value heavier than that is returned but not kept.
    """

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        if weigh is None:
            cached: Any = functools.lru_cache(maxsize=maxsize, typed=typed)(fn)
        else:
            if maxsize is None:
                raise ValueError("a weighed memo needs a maxsize (the most total weight it keeps)")
            key = cachetools.keys.typedkey if typed else cachetools.keys.hashkey
            lru: cachetools.LRUCache[Any, Any] = cachetools.LRUCache(maxsize, getsizeof=weigh)
            cached = functools.wraps(fn)(cachetools.cached(lru, key=key, info=True)(fn))
        _MEMOS.append(cached)
        if copy is None:
            return cast(Callable[P, T], cached)

        @functools.wraps(fn)
        def copied(*args: P.args, **kwargs: P.kwargs) -> T:
            return cast(T, copy(cached(*args, **kwargs)))

        copied.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        copied.cache_info = cached.cache_info  # type: ignore[attr-defined]
        return copied

    return decorate


def register(clearable: T) -> T:
    """Add a cache kept some other way (an object with ``cache_clear()`` and ``cache_info()``, e.g. the
    constants a module copies into its namespace on first use) to those :func:`clear_all` empties."""
    _MEMOS.append(clearable)
    return clearable


def memos() -> list[Any]:
    """The registered memos (each with ``cache_info()`` and ``cache_clear()``), for inspection."""
    return list(_MEMOS)


def clear_all() -> None:
    """Empty every cache tdxlib keeps in this process (the build's shared folder is left alone)."""
    for cached in _MEMOS:
        cached.cache_clear()


def stat_key(*paths: str | Path) -> tuple[tuple[str, int, int], ...]:
    """(path, size, mtime in ns) of each file (-1, -1 when missing): part of the key of any cache
    whose value was read from these files, so an edited file is read again."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((str(p), st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((str(p), -1, -1))
    return tuple(out)


def glob_key(directory: str | Path, pattern: str = "*.yaml") -> tuple[tuple[str, int, int], ...]:
    """:func:`stat_key` of every file matching ``pattern`` in ``directory`` (sorted), and of the
    directory itself: a file added, removed or edited gives a new key."""
    d = Path(directory)
    return stat_key(d, *sorted(d.glob(pattern)))


#: Folders no fingerprint looks into (caches of tools, never inputs).
_SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", ".mypy_cache", ".pytest_cache"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_tree(root: Path, patterns: Iterable[str] = ("**/*",)) -> str:
    """Hash of the relative paths and contents of the files under ``root`` matching ``patterns``."""
    h = hashlib.sha256()
    if not root.is_dir():
        return _sha(b"missing:" + str(root).encode())
    found: set[Path] = set()
    for pattern in patterns:
        for p in root.glob(pattern):
            rel_parts = p.relative_to(root).parts
            if p.is_file() and not any(x in _SKIP_DIRS or x.startswith(".") for x in rel_parts):
                found.add(p)
    for p in sorted(found):
        rel = p.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0")
        h.update(_sha(p.read_bytes()).encode() + b"\n")
    return h.hexdigest()


def code_key() -> str:
    """tdxlib's source (``tdxlib/**/*.py``) and data (``data/**``) as one short key: results of the
    models are valid for exactly this key (computed afresh, ~20 ms: a file edited in a session counts)."""
    source = hash_tree(Path(__file__).resolve().parent, ("**/*.py",))
    return _sha(f"{source}\0{hash_tree(DATA_DIR)}".encode())[:20]


# --------------------------------------------------------------------------------------------------
# Results shared by the kernels of one report build
# --------------------------------------------------------------------------------------------------

#: Environment variable naming the shared folder (set by ``tdxlib report`` for its kernels).
BUILD_CACHE_ENV = "TDXLIB_BUILD_CACHE"


def active() -> bool:
    """True inside a report build's kernels (results are shared), False elsewhere."""
    return bool(os.environ.get(BUILD_CACHE_ENV))


def build_folder() -> Path | None:
    """The report build's shared folder (one per tdxlib source and data version), or None outside a
    build: where a kernel keeps what other kernels of the build may reuse (a sweep's results)."""
    folder = os.environ.get(BUILD_CACHE_ENV)
    return Path(folder) if folder else None


def cache_file(kind: str, name: str, key: Any) -> Path | None:
    """The file for ``key`` (JSON data) under the build's folder, or None outside a build."""
    folder = os.environ.get(BUILD_CACHE_ENV)
    if not folder:
        return None
    try:
        text = json.dumps(key, sort_keys=True)
    except TypeError:  # not plain data: no stable key, so no sharing
        return None
    digest = hashlib.sha256(f"{kind}\0{text}".encode()).hexdigest()[:20]
    return Path(folder) / kind / f"{name}-{digest}.pkl"


def load(path: Path) -> tuple[bool, Any]:
    """(True, value) stored at ``path``, or (False, None) when missing or torn."""
    try:
        with path.open("rb") as f:
            return True, pickle.load(f)  # written by this build's own kernels only
    except (OSError, EOFError, pickle.UnpicklingError):  # missing or torn: compute again
        return False, None


def store(path: Path, value: Any) -> None:
    """Write ``value`` to ``path`` atomically (a concurrent reader sees nothing or the whole value)."""
    files.atomic_write_bytes(path, pickle.dumps(value))


@contextlib.contextmanager
def _locked(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the lock of the value at ``path`` (see :func:`tdxlib.files.lock`): at worst, where locks
    do not exist, two kernels compute the same value."""
    with files.lock(path.with_suffix(".lock"), wait=wait) as mine:
        yield mine


def _shared_at(path: Path, compute: Callable[[], T], *, wait: bool = True) -> tuple[bool, T | None]:
    """(True, the value at ``path``), computed and stored here if no kernel has it yet; (False, None)
    when ``wait`` is false and another kernel is computing it."""
    found, value = load(path)
    if found:
        return True, value
    with _locked(path, wait=wait) as mine:
        if not mine:
            return False, None
        found, value = load(path)  # computed while we waited
        if not found:
            value = compute()
            store(path, value)
    return True, value


def shared(kind: str, name: str, key: Any, compute: Callable[[], T]) -> T:
    """``compute()``, or the value another kernel of this build computed (or is computing) for ``key``."""
    path = cache_file(kind, name, key)
    return compute() if path is None else _shared_at(path, compute)[1]  # type: ignore[return-value]


def shared_each(kind: str, items: Sequence[tuple[str, Any]], compute: Callable[[int], T]) -> list[T]:
    """``[compute(i) for i, (name, key) in enumerate(items)]``, each value shared as by :func:`shared`.

    A value another kernel is computing is left for last instead of waited for: two kernels asking
    for the same list split it between them rather than one idling while the other does it all.
    """
    paths = [cache_file(kind, name, key) for name, key in items]
    values: dict[int, Any] = {}
    later: list[tuple[int, Path]] = []
    for i, path in enumerate(paths):
        if path is None:
            values[i] = compute(i)
            continue
        done, values[i] = _shared_at(path, functools.partial(compute, i), wait=False)
        if not done:
            later.append((i, path))
    for i, path in later:  # computed by another kernel meanwhile, or computed here if it gave up
        values[i] = _shared_at(path, functools.partial(compute, i))[1]
    return [values[i] for i in range(len(paths))]
