"""``tdxlib proposals``: check (exit codes, file:line: field errors), eval formats, new, schema."""

from __future__ import annotations

import json

import pytest

from tdxlib.argument.proposals import TEMPLATE, builtin_ids, load_proposal
from tdxlib.cli import main
from tdxlib.data import data_path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["proposals", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def bad_file(tmp_path):
    path = tmp_path / "bad.yaml"
    text = TEMPLATE.replace("    kind: question\n", "    kind: wish\n")
    path.write_text(text, encoding="utf-8")
    line = next(i for i, s in enumerate(text.splitlines(), start=1) if "kind: wish" in s)
    return path, line


def test_check_valid_builtins(capsys):
    files = [str(data_path("proposals", f"{i}.yaml")) for i in builtin_ids()]
    code, out, err = run_cli(capsys, "check", *files)
    assert code == 0, err
    assert out.count(": ok (") == len(files)


def test_check_accepts_builtin_ids(capsys):
    code, out, _ = run_cli(capsys, "check", "caller-vcpu")
    assert code == 0 and "caller-vcpu: ok" in out


def test_check_invalid_names_file_line_and_field(capsys, bad_file):
    path, line = bad_file
    code, _, err = run_cli(capsys, "check", str(path), "polling-only")
    assert code == 1
    assert f"{path}:{line}: annotations[0].kind:" in err
    assert "1 of 2" in err


def test_check_missing_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "check", str(tmp_path / "nope.yaml"))
    assert code == 1 and "not found" in err


def test_eval_json_has_one_row_per_scenario_and_vmm(capsys):
    code, out, _ = run_cli(capsys, "eval", "caller-vcpu", "--suite", "quick", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["proposal"] == "caller-vcpu" and doc["suite"] == "quick"
    assert len(doc["rows"]) == 4  # 2 scenarios x 2 VMMs x 1 seed
    assert {r["verdict"] for r in doc["rows"]} <= {"ok", "loses notifications"}
    assert all("lost_notifications" in r for r in doc["runs_full"])


def test_eval_table_and_md(capsys):
    code, out, _ = run_cli(capsys, "eval", "apic-id-in-setup", "--suite", "quick")
    assert code == 0
    assert "new spec elements: 1" in out and "hotplug-no-rereg" in out
    code, out, _ = run_cli(
        capsys, "eval", "caller-vcpu", "apic-id-in-setup", "--suite", "quick", "--format", "md"
    )
    assert code == 0
    assert "| scenario | vmm | caller-vcpu | apic-id-in-setup |" in out
    assert "| (spec) | new elements | 0 | 1 |" in out


def test_eval_invalid_file_exits_1(capsys, bad_file):
    path, line = bad_file
    code, _, err = run_cli(capsys, "eval", str(path), "--suite", "quick")
    assert code == 1 and f":{line}: annotations[0].kind" in err


def test_eval_bad_suite(capsys):
    code, _, err = run_cli(capsys, "eval", "caller-vcpu", "--suite", "huge")
    assert code == 1 and "quick" in err


def test_new_writes_a_valid_template_and_never_overwrites(capsys, tmp_path):
    out_file = tmp_path / "my-idea.yaml"
    code, _, _ = run_cli(capsys, "new", "--out", str(out_file))
    assert code == 0 and out_file.is_file()
    assert load_proposal(out_file).id == "my-idea"
    assert run_cli(capsys, "check", str(out_file))[0] == 0
    out_file.write_text("edited\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "new", "--out", str(out_file))
    assert code == 1 and "--force" in err
    assert out_file.read_text(encoding="utf-8") == "edited\n"
    assert run_cli(capsys, "new", "--out", str(out_file), "--force")[0] == 0
    assert load_proposal(out_file).id == "my-idea"


def test_new_to_stdout(capsys):
    code, out, _ = run_cli(capsys, "new")
    assert code == 0 and out == TEMPLATE


def test_schema_check(capsys, tmp_path):
    assert run_cli(capsys, "schema", "--check", str(data_path("proposals", "schema.json")))[0] == 0
    stale = tmp_path / "schema.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert run_cli(capsys, "schema", "--check", str(stale))[0] == 1
    code, _, err = run_cli(capsys, "schema", "--out", str(stale))  # issue 15: it overwrote the file
    assert code == 1 and "--force" in err and stale.read_text(encoding="utf-8") == "{}\n"
    assert run_cli(capsys, "schema", "--out", str(stale), "--force")[0] == 0
    assert run_cli(capsys, "schema", "--check", str(stale))[0] == 0


def test_no_subcommand_prints_help(capsys):
    code, out, _ = run_cli(capsys)
    assert code == 2 and "check" in out


def test_cli_module_imports_only_light_modules():
    import subprocess
    import sys

    code = (
        "import sys, tdxlib.cli.proposals; "
        "heavy = [m for m in ('pydantic', 'pandas', 'tdxlib.sim', 'altair') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_new_into_a_directory_is_one_clear_line_even_with_force(capsys, tmp_path):
    """``proposals new --out DIR --force`` raised IsADirectoryError."""
    (tmp_path / "mine.txt").write_text("x")
    code, _, err = run_cli(capsys, "new", "--out", str(tmp_path), "--force")
    assert code == 1 and err.count("\n") == 1 and f"{tmp_path}: is a directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]
