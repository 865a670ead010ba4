"""``tdxlib sim``: run one scenario from flags or a YAML file and print its metrics (table or JSON).

Only argparse is imported at module level; the simulator is imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tdxlib.cli import options

#: Strategy names the command accepts (kept here so building the parser stays import-light).
STRATEGIES = ("system-vector", "dynamic", "dynamic-apic", "caller-vcpu", "polling", "quote-carries-vector")


def register(subparsers: Any) -> None:
    """Add the ``sim`` sub-command to ``tdxlib``'s parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "sim",
        help="simulate one notify strategy against a VMM profile and print the metrics",
        description=(
            "Simulate quote requests on a TD guest: a notify strategy, a VMM profile, a workload, "
            "optional CPU hotplug. Flags override a --scenario YAML file (fields of tdxlib.sim.Scenario)."
        ),
    )
    p.add_argument("--scenario", metavar="FILE.yaml", help="scenario file; flags given override its fields")
    p.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="notify strategy (default: the scenario's, else the kernel's own driver: v8 system-vector, "
        "6.7+ polling)",
    )
    p.add_argument("--vmm", metavar="PROFILE", help="VMM profile name or .yaml path (see data/vmm/)")
    p.add_argument("--cpus", type=int, metavar="N", help="number of vCPUs")
    p.add_argument(
        "--device-irqs", type=int, metavar="N", help="non-managed device IRQs spread over the CPUs"
    )
    p.add_argument(
        "--kernel",
        metavar="NAME",
        help="guest kernel profile (data/kernels; default linux-5.19-tdx-v8): layout, HZ, msleep, offlining",
    )
    p.add_argument("--layout", metavar="NAME", help="vector layout, overriding the kernel's")
    p.add_argument(
        "--poll-ms",
        type=int,
        metavar="MS",
        help="poll interval (polling strategy; for interrupt strategies: a polling fallback)",
    )
    p.add_argument(
        "--timeout-s",
        type=options.positive,
        metavar="S",
        help="request timeout (interrupt strategies; polling: loop)",
    )
    p.add_argument(
        "--service-ms",
        type=options.non_negative,
        metavar="MS",
        help="fixed quote service time, replaces the profile's",
    )
    wl = p.add_mutually_exclusive_group()
    wl.add_argument(
        "--closed-loop", action="store_true", help="one requester, next quote when the last returns"
    )
    wl.add_argument(
        "--open", action="store_true", help="open workload: Poisson arrivals (default without a file)"
    )
    p.add_argument(
        "--rate", type=options.positive, metavar="PER_S", help="open workload: quotes per second in total"
    )
    p.add_argument("--requesters", type=int, metavar="N", help="open workload: independent requesters")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--quotes", type=int, metavar="N", help="number of quote requests")
    stop.add_argument("--duration", type=options.positive, metavar="S", help="simulated seconds")
    p.add_argument(
        "--hotplug-every", type=options.positive, metavar="S", help="offline/online a CPU every S seconds"
    )
    p.add_argument(
        "--hz", type=int, metavar="HZ", help="guest HZ (100, 250, 300, 1000), overriding the kernel's"
    )
    p.add_argument("--seed", type=int, metavar="N", help="random seed")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.set_defaults(func=main)


def _overrides(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    """Scenario fields from the flags that were given (on top of ``base``, e.g. a YAML file's)."""
    # reason: the profiles and strategies load pydantic and numpy; only when the command runs
    from tdxlib.kernel.profile import DEFAULT_KERNEL
    from tdxlib.tdx.strategies import native_strategy

    out = dict(base)
    simple = {
        "vmm": args.vmm,
        "kernel": args.kernel,
        "cpus": args.cpus,
        "device_irqs": args.device_irqs,
        "layout": args.layout,
        "service_ms": args.service_ms,
        "rate_per_s": args.rate,
        "requesters": args.requesters,
        "hotplug_every_s": args.hotplug_every,
        "hz": args.hz,
        "seed": args.seed,
    }
    out.update({k: v for k, v in simple.items() if v is not None})
    if args.quotes is not None:
        out["quotes"], out["duration_s"] = args.quotes, None
    elif args.duration is not None:
        out["duration_s"], out["quotes"] = args.duration, None
    if args.closed_loop:
        out["workload"] = "closed"
    elif args.open or "workload" not in base:
        out["workload"] = "open"
    strat = out.get("strategy")
    spec: dict[str, Any]
    if isinstance(strat, dict):
        spec = dict(strat)
    elif isinstance(strat, str):
        spec = {"name": strat}
    else:  # none given: the kernel's own GetQuote driver (v8: the system vector; 6.7+: the poller)
        spec = native_strategy(out.get("kernel") or DEFAULT_KERNEL)
    if args.strategy is not None and args.strategy != spec.get("name"):
        spec = {"name": args.strategy}
    if spec["name"] == "dynamic-apic":
        spec = {**{k: v for k, v in spec.items() if k != "name"}, "name": "dynamic", "apic_targeting": True}
    if args.poll_ms is not None:
        if spec["name"] == "polling":
            spec["interval_ms"] = args.poll_ms
        else:
            spec["fallback"] = {"name": "polling", "interval_ms": args.poll_ms}
    if args.timeout_s is not None:
        if isinstance(spec.get("fallback"), dict):
            spec["fallback"]["timeout_s"] = args.timeout_s
        else:
            spec["timeout_s"] = args.timeout_s
    out["strategy"] = spec
    return out


def _table(scenario: Any, metrics: dict[str, Any]) -> str:
    kernel = scenario.guest_kernel()
    lines = [
        f"kernel     {kernel.describe()}",
        f"strategy   {scenario.strategy.label()}",
        f"vmm        {scenario.vmm if isinstance(scenario.vmm, str) else scenario.vmm.name}",
        f"cpus       {scenario.cpus}   hz {kernel.hz}   workload {scenario.workload}   seed {scenario.seed}",
        "",
    ]
    width = max(len(k) for k in metrics)
    for key, value in metrics.items():
        if key == "vectors_per_cpu":
            vals = list(value)
            value = f"max {max(vals) if vals else 0} on {sum(1 for v in vals if v)} of {len(vals)} CPUs"
        elif key == "latency_ms":
            value = "  ".join(f"{k} {'-' if v is None else f'{v:.1f}'}" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.4g}"
        lines.append(f"{key:<{width}}  {value}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Build the scenario, run it, print the metrics; TdxlibError goes to tdxlib.cli (exit 1)."""
    # the YAML reader: only when this command runs
    from tdxlib.data import load_yaml

    # pandas, numpy, simpy: only when this command runs
    from tdxlib.sim import Scenario, run

    base: dict[str, Any] = {}
    if args.scenario:
        path = Path(args.scenario)
        data = load_yaml(path)
        Scenario.from_dict(data, path)  # file errors name the file and line before flags are applied
        base = dict(data)
    scenario = Scenario.from_dict(_overrides(args, base))
    result = run(scenario)
    metrics = result.metrics.to_dict()
    if args.format == "json":
        print(json.dumps({"scenario": scenario.to_dict(), **metrics}, indent=2, default=str))
    else:
        print(_table(scenario, metrics))
    return 0
