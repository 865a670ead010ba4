"""Where tdxlib's facts live (``data/``) and the one YAML reader for every file tdxlib reads.

Facts are data, not code: every layout, status code, VMM profile and proposal is a YAML file under
``data/``, and users hand tdxlib their own (scenarios, proposals, reports.yaml). Errors in those files
must name the file and the line, so the loader keeps, for every mapping it builds, the line of each
key. The reader is safe (no Python objects, ever) and bounded: a file over :data:`MAX_YAML_BYTES`, a
document whose aliases expand past :data:`MAX_YAML_NODES` nodes, or a value YAML cannot build (a
13th month, a 5,000-digit integer) is a :class:`~tdxlib.errors.DataError` naming file and line, never
a traceback or a machine out of memory.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import yaml

from tdxlib.errors import DataError

#: The largest YAML file tdxlib reads (the biggest shipped file is a few KiB).
MAX_YAML_BYTES = 4 * 1024 * 1024
#: The most nodes a YAML document may have once every alias is expanded (a few anchors reused a few
#: times are fine; an "alias bomb" that expands to millions of nodes is refused before anything walks it).
MAX_YAML_NODES = 100_000

#: ``data/`` beside the package (editable install / checkout), or the copy bundled into a wheel.
DATA_DIR: Path = next(
    (
        p
        for p in (
            Path(__file__).resolve().parent / "_data",
            Path(__file__).resolve().parent.parent / "data",
        )
        if p.is_dir()
    ),
    Path(__file__).resolve().parent.parent / "data",
)


class LineDict(dict[Any, Any]):
    """A dict read from YAML that also knows the 1-based line of the mapping and of each key."""

    line: int | None = None
    key_lines: dict[Any, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}

    def line_of(self, key: Any) -> int | None:
        """Line of ``key`` in the source file, else of the mapping itself."""
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A list read from YAML that knows the 1-based line of each item."""

    line: int | None = None
    item_lines: list[int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines = []


#: libyaml's parser when PyYAML was built with it (the same nodes and marks, about 6x faster).
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeBase):  # type: ignore[valid-type,misc]  # a safe loader either way
    """Safe loader that builds LineDict/LineList (no arbitrary objects, ever), refuses documents that
    expand past MAX_YAML_NODES, and turns a value YAML cannot construct into a DataError with its line."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError, KeyError, RecursionError) as exc:
            value = node.value if isinstance(node, yaml.ScalarNode) else node.tag
            shown = value if len(str(value)) <= 40 else f"{str(value)[:37]}..."
            reason = str(exc) if not isinstance(exc, KeyError) else "not a value of that type"
            raise DataError(
                f"cannot read {shown!r} as {node.tag.rsplit(':', 1)[-1]}: {reason}",
                line=node.start_mark.line + 1,
            ) from None


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document that expands (aliases counted each time they are used) past MAX_YAML_NODES."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if depth > 1000:  # deeper than any file of ours; libyaml refuses far earlier
            raise DataError("the document is nested too deeply", line=node.start_mark.line + 1)
        sizes[key] = 0  # a node reached again while being sized is recursive: PyYAML refuses those later
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(child, depth + 1) for child in node.value)
        if total > MAX_YAML_NODES:
            raise DataError(
                f"the document expands to more than {MAX_YAML_NODES:,} nodes once its aliases are "
                "expanded (an anchor reused too often); write the values out or reuse them less",
                line=node.start_mark.line + 1,
            )
        sizes[key] = total
        return total

    size(root, 0)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise DataError(f"mapping key {key!r} is not a scalar", line=key_node.start_mark.line + 1)
        if key in result:
            raise DataError(
                f"duplicate key {key!r} (first on line {result.key_lines.get(key)})",
                line=key_node.start_mark.line + 1,
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml_text(text: str, path: object = "<string>") -> Any:
    """Parse YAML text safely; every error (syntax, size, expansion, a value YAML cannot build) is a
    DataError naming ``path`` and the line."""
    if len(text) > MAX_YAML_BYTES:
        raise DataError(f"is larger than {_mib(MAX_YAML_BYTES)}, the limit for a YAML file", path)
    try:
        return yaml.load(text, Loader=_LineLoader)  # _LineLoader is a SafeLoader
    except DataError as exc:
        raise DataError(exc.message, path, exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise DataError(f"YAML syntax error: {exc.problem or exc}", path, line) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow: its line, one line
        line = text.count("\n", 0, exc.position) + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        reason = f"unacceptable character {char}: {exc.reason}"
        raise DataError(f"YAML error: {reason}", path, line) from None
    except yaml.YAMLError as exc:
        raise DataError(f"YAML error: {str(exc).splitlines()[0]}", path) from None
    except RecursionError:
        raise DataError("the document is nested too deeply", path) from None
    except UnicodeEncodeError as exc:  # a lone surrogate in a str (never in a file read as UTF-8)
        line = text.count("\n", 0, exc.start) + 1
        raise DataError(f"not valid text ({exc.reason} at character {exc.start})", path, line) from None


def _mib(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MiB"


def read_bytes(path: str | Path, *, limit: int = MAX_YAML_BYTES, what: str = "file") -> bytes:
    """A file tdxlib reads: at most ``limit`` bytes; every failure a DataError naming the file (missing,
    a directory, unreadable, too large). Never reads more than ``limit + 1`` bytes (``/dev/zero``)."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(limit + 1)
    except FileNotFoundError:
        raise DataError(f"{what} not found", p) from None
    except IsADirectoryError:
        raise DataError(f"is a directory, not a {what}", p) from None
    except OSError as exc:
        raise DataError(f"cannot read the {what}: {exc.strerror or exc}", p) from None
    except ValueError:  # a NUL in the name: no file can have it
        raise DataError(f"is not a valid name for a {what}", repr(str(p))) from None
    if len(raw) > limit:
        raise DataError(f"is larger than {_mib(limit)}, the limit for a {what} tdxlib reads", p)
    return raw


def decode(raw: bytes, path: object, what: str = "file") -> str:
    """``raw`` as UTF-8 text; otherwise a DataError naming the file and the line of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start}): not a {what}", path, line
        ) from None


def read_text(path: str | Path, *, limit: int = MAX_YAML_BYTES, what: str = "file") -> str:
    """A text file tdxlib reads: at most ``limit`` bytes, UTF-8; every failure a DataError naming the
    file (missing, a directory, unreadable, too large, not UTF-8 with the line of the first bad byte)."""
    return decode(read_bytes(path, limit=limit, what=what), Path(path), what)


def gunzip(raw: bytes, path: object, *, limit: int, what: str = "file") -> bytes:
    """Decompress gzip data of a file, stopping at ``limit`` bytes (a gzip bomb is a DataError, not a
    machine out of memory); corrupt or truncated data is a DataError naming the file."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise DataError(f"not gzip data ({exc}): not a {what}", path) from None
    if len(out) > limit:
        raise DataError(f"decompresses to more than {_mib(limit)}, the limit for a {what}", path)
    if not d.eof:
        raise DataError(f"truncated gzip data: not a whole {what}", path)
    return out


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file safely, with line numbers kept (see LineDict) and errors naming the file."""
    p = Path(path)
    return load_yaml_text(read_text(p), p)


def is_file(path: str | Path) -> bool:
    """Whether ``path`` is a file; a name no file can have (too long, a NUL) is not one, never an error."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def exists(path: str | Path) -> bool:
    """Whether anything is at ``path``; a name no file can have (too long, a NUL) names nothing."""
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def data_path(*parts: str) -> Path:
    """Path of a file under ``data/``."""
    return DATA_DIR.joinpath(*parts)
