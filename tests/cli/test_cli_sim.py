"""``tdxlib sim``: flags and YAML to a scenario, table and JSON output, clean errors."""

from __future__ import annotations

import json

import pytest

from tdxlib.cli import main
from tdxlib.kernel.profile import kernel_names


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["sim", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_has_metrics_record(capsys):
    code, out, _ = run_cli(
        capsys,
        "--strategy",
        "polling",
        "--vmm",
        "qemu-10.1",
        "--cpus",
        "4",
        "--closed-loop",
        "--quotes",
        "12",
        "--service-ms",
        "500",
        "--hz",
        "1000",
        "--seed",
        "3",
        "--format",
        "json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["quotes_issued"] == 12 and data["completed_by_poll"] == 12
    assert set(data["latency_ms"]) == {"min", "p50", "p99", "max"}
    # 500 ms service, 1 s poll at HZ=1000 (1001 jiffies, level 2, up to 1065 ms): one real sleep each
    assert 1000 <= data["latency_ms"]["min"] <= data["latency_ms"]["max"] <= 1065 + 0.2
    assert data["quotes_per_s"] > 0
    assert data["scenario"]["hz"] == 1000 and data["scenario"]["workload"] == "closed"


def test_table_and_strategy_names(capsys):
    code, out, _ = run_cli(capsys, "--strategy", "dynamic-apic", "--vmm", "apic-id-arg", "--quotes", "20")
    assert code == 0
    assert "apic_targeting=True" in out and "lost_notifications" in out and "p99" in out
    code, out, _ = run_cli(
        capsys, "--strategy", "caller-vcpu", "--vmm", "qemu-10.1", "--quotes", "5", "--format", "json"
    )
    assert json.loads(out)["lost_notifications"] == 0


def test_poll_ms_becomes_fallback_for_interrupt_strategies(capsys):
    _, out, _ = run_cli(
        capsys,
        "--strategy",
        "dynamic",
        "--vmm",
        "random-vcpu",
        "--poll-ms",
        "100",
        "--quotes",
        "30",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert data["scenario"]["strategy"]["fallback"]["interval_ms"] == 100
    assert data["completed"] == 30 and data["completed_by_poll"] > 0


def test_yaml_scenario_with_flag_overrides(tmp_path, capsys):
    f = tmp_path / "sc.yaml"
    f.write_text(
        "cpus: 6\nvmm: bsp-only\nworkload: closed\nquotes: 8\nstrategy: {name: system-vector, drivers: 2}\n"
    )
    code, out, _ = run_cli(capsys, "--scenario", str(f), "--cpus", "3", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["scenario"]["cpus"] == 3 and data["quotes_issued"] == 8
    assert data["fanout_callbacks"] == 16  # two drivers called per notification
    assert data["scenario"]["workload"] == "closed"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--cpus", "0"], "cpus = 0"),
        (["--vmm", "no-such-vmm"], "no-such-vmm"),
        (["--hz", "5000"], "hz"),
        (["--scenario", "/nonexistent/x.yaml"], "not found"),
    ],
)
def test_bad_values_exit_nonzero_with_message(capsys, argv, needle):
    code, _, err = run_cli(capsys, *argv, "--quotes", "1")
    assert code == 1
    assert needle in err and "Traceback" not in err


def test_bad_yaml_names_file_and_line(tmp_path, capsys):
    f = tmp_path / "bad.yaml"
    f.write_text("cpus: 4\nstrategy: polling\nspeed: 11\n")
    code, _, err = run_cli(capsys, "--scenario", str(f))
    assert code == 1 and "bad.yaml:3" in err and "speed" in err


def test_unknown_strategy_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sim", "--strategy", "psychic"])
    assert exc.value.code != 0
    assert "invalid choice" in capsys.readouterr().err


def test_the_command_line_offers_exactly_the_registered_strategies() -> None:
    """cli/sim names the strategies itself (its parser must not import numpy); the registry is the truth."""
    from tdxlib.cli.sim import STRATEGIES
    from tdxlib.tdx.strategies import STRATEGY_NAMES

    assert tuple(STRATEGIES) == tuple(STRATEGY_NAMES)


@pytest.mark.parametrize("kernel", kernel_names())
def test_sim_runs_on_every_shipped_kernel_profile(capsys, kernel):
    code, out, err = run_cli(
        capsys, "--kernel", kernel, "--strategy", "polling", "--vmm", "qemu-10.1", "--quotes", "3"
    )
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"kernel     {kernel} (layout ")


def test_sim_kernel_json_and_overrides(capsys):
    code, out, _ = run_cli(capsys, "--kernel", "rhel-10", "--hz", "250", "--quotes", "2", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["scenario"]["kernel"] == "rhel-10" and data["scenario"]["hz"] == 250


def test_sim_unknown_kernel_lists_the_known_ones(capsys):
    code, _, err = run_cli(capsys, "--kernel", "linux-9.9", "--quotes", "1")
    assert code == 1 and "linux-9.9" in err and "linux-6.12" in err and "ubuntu-24.04" in err


def test_sim_hotplug_on_a_kernel_that_cannot_offline_says_so(capsys):
    code, out, err = run_cli(capsys, "--hotplug-every", "1", "--duration", "3")
    assert code == 1 and out == ""
    assert "linux-5.19-tdx-v8 cannot offline CPUs" in err and "EOPNOTSUPP" in err
    code, out, _ = run_cli(
        capsys,
        "--kernel",
        "linux-6.12",
        "--strategy",
        "caller-vcpu",
        "--hotplug-every",
        "1",
        "--duration",
        "3",
    )
    assert code == 0 and "offline_ok" in out
