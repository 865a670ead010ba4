"""Where tdxlib's facts live (``data/``) and a safe YAML reader that remembers line numbers.

Facts are data, not code: every layout, status code, VMM profile and proposal is a YAML file under
``data/``. Errors in those files must name the file and the line, so the loader keeps, for every
mapping it builds, the line of each key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tdxlib.errors import DataError

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
    """Safe loader that builds LineDict/LineList (no arbitrary objects, ever)."""


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
    """Parse YAML text safely; syntax errors become DataError naming ``path`` and the line."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # _LineLoader is a SafeLoader
    except DataError as exc:
        raise DataError(exc.message, path, exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise DataError(f"YAML syntax error: {exc.problem or exc}", path, line) from None
    except yaml.YAMLError as exc:
        raise DataError(f"YAML error: {exc}", path) from None


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file safely, with line numbers kept (see LineDict) and errors naming the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError("file not found", p) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason})", p) from None
    return load_yaml_text(text, p)


def data_path(*parts: str) -> Path:
    """Path of a file under ``data/``."""
    return DATA_DIR.joinpath(*parts)
