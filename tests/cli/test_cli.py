"""tdxlib.cli: every sub-command is registered; one that fails to import is an error, not a gap."""

from __future__ import annotations

import pytest

from tdxlib import cli


def test_every_command_module_registers_its_command() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(cli.COMMANDS)  # type: ignore[arg-type]


def test_a_command_module_that_fails_to_import_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.COMMANDS, "broken", "tdxlib.cli.does_not_exist")
    with pytest.raises(ModuleNotFoundError, match="does_not_exist"):
        cli.build_parser()
