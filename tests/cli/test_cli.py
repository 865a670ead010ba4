"""tdxlib.cli: every sub-command is registered; one that fails to import is an error, not a gap."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tdxlib import cli
from tdxlib.errors import DataError


def test_every_command_module_registers_its_command() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(cli.COMMANDS)  # type: ignore[arg-type]


def test_a_command_module_that_fails_to_import_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.COMMANDS, "broken", "tdxlib.cli.does_not_exist")
    with pytest.raises(ModuleNotFoundError, match="does_not_exist"):
        cli.build_parser()


# --- one way to fail: one line naming the path and the cause, exit 1; usage errors exit 2 ----------------


def _failing(exc: BaseException) -> Callable[[object], int]:
    def run(_args: object) -> int:
        raise exc

    return run


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (PermissionError(13, "Permission denied", "reports/.tmp"), "reports/.tmp: Permission denied"),
        (NotADirectoryError(20, "Not a directory", "f/.tmp"), "f/.tmp: Not a directory"),
        (OSError(18, "Invalid cross-device link", "a", None, "b"), "a -> b: Invalid cross-device link"),
        (DataError("not UTF-8 text", "g.json", 3), "g.json:3: not UTF-8 text"),
        (ZeroDivisionError("division by zero"), "internal error: ZeroDivisionError: division by zero"),
    ],
)
def test_an_error_is_one_line_on_stderr_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, exc: BaseException, line: str
) -> None:
    from tdxlib.cli import schema

    monkeypatch.setattr(schema, "run", _failing(exc))
    assert cli.main(["schema"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and line in err and "Traceback" not in err
    assert err.startswith("tdxlib schema: ")


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from tdxlib.cli import schema

    monkeypatch.setattr(schema, "run", _failing(PermissionError(13, "Permission denied", "x")))
    with pytest.raises(PermissionError):
        cli.main(["--debug", "schema"])


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--jobs", "0"],  # issue 15: meant "all cores"
        ["report", "--jobs", "-1"],
        ["report", "--timeout", "nan"],  # issue 15: passed the check, then every run failed
        ["report", "--timeout", "inf"],
        ["report", "--timeout", "0"],
        ["proposals", "eval", "caller-vcpu", "--jobs", "0"],
        ["sim", "--timeout-s", "nan"],
        ["sim", "--rate", "-2"],
        ["schema", "no-such-kind"],
    ],
)
def test_bad_option_values_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "error: argument" in capsys.readouterr().err
