"""Benchmark tdxlib.sim: a long hotplug run on a big guest, and a sweep through a 2-process pool.

Goals (issue 3): 10,000 quotes with a hotplug event every second on a 256-vCPU guest in under 2 s;
a sweep of 200 small scenarios through a 2-process pool at least 1.6x faster than serial. Issue 15: a
Scenario is validated by its pydantic model on every construction; that stays in microseconds.
Run: ``.venv/bin/python benchmarks/bench_sim.py`` (prints numbers; never fails on timing).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from tdxlib.sim import Scenario, run, sweep
from tdxlib.tdx.strategies import DynamicIrq, Polling, SystemVector, make_strategy

#: Hotplug needs a kernel whose TDs can offline CPUs (6.11+); the v8 IDT and msleep's extra jiffy keep
#: the guest these goals were set on (issue 3).
GUEST = {"kernel": "linux-6.12", "layout": "linux-5.19-tdx-v8", "extra_jiffy": True}


def big_runs() -> None:
    """10,000 quotes, 256 vCPUs with 512 device IRQs, one hotplug event per simulated second."""
    cases = [
        ("dynamic-apic / apic-id-arg, closed loop", DynamicIrq(apic_targeting=True), "apic-id-arg", "closed"),
        ("system-vector / ghci-1.0, closed loop", SystemVector(), "ghci-1.0", "closed"),
        (
            "dynamic-apic+timeout / apic-id-arg, open 50/s",
            DynamicIrq(apic_targeting=True, timeout_s=10),
            "apic-id-arg",
            "open",
        ),
        ("polling 1 s / qemu-10.1, closed loop", Polling(), "qemu-10.1", "closed"),
    ]
    print("10,000 quotes, 256 vCPUs, 512 device IRQs, hotplug every 1 s (goal < 2 s each)")
    for label, strat, vmm, workload in cases:
        sc = Scenario(
            cpus=256,
            device_irqs=512,
            strategy=strat,
            vmm=vmm,
            workload=workload,  # type: ignore[arg-type]
            rate_per_s=50,
            requesters=4,
            quotes=10_000,
            hotplug_every_s=1.0,
            seed=1,
            **GUEST,
        )
        t0 = time.perf_counter()
        r = run(sc)
        dt = time.perf_counter() - t0
        m = r.metrics
        hot = m.offline_ok + m.online_events
        verdict = "OK" if dt < 2 else "SLOW"
        print(
            f"  {label:<48} {dt:6.2f} s  (simulated {m.duration_s:8.0f} s, {hot} hotplug events,"
            f" {m.irq_migrations} IRQ migrations, {len(r.events)} events)  {verdict}"
        )


def small(n: int) -> list[Scenario]:
    """``n`` small, varied scenarios (strategies x VMMs x seeds)."""
    names = ["system-vector", "dynamic", "dynamic-apic", "caller-vcpu", "polling", "quote-carries-vector"]
    vmms = ["ghci-1.0", "qemu-10.1", "random-vcpu", "apic-id-arg"]
    out = []
    for i in range(n):
        name = names[i % len(names)]
        strat = make_strategy(name) if name == "polling" else make_strategy(name, timeout_s=30)
        out.append(
            Scenario(
                cpus=16,
                device_irqs=32,
                strategy=strat,
                vmm=vmms[(i // len(names)) % len(vmms)],
                workload="open",
                rate_per_s=4,
                quotes=300,
                hotplug_every_s=2.0,
                seed=i,
                **GUEST,
            )
        )
    return out


def _burn(n: int) -> int:
    """Pure-Python CPU work: what two processes can do in parallel on this machine right now."""
    acc = 0
    for i in range(n):
        acc += i * i
    return acc


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _warm(_: int) -> int:
    """Run in each worker once: import the simulator and fill its per-process caches."""
    sweep(small(6), metrics_only=True)
    return os.getpid()


def sweep_bench(n: int = 200, rounds: int = 3, burn: int = 2_000_000) -> None:
    """Serial vs a 2-process pool on the same scenarios, metrics only (and full results, for reference).

    The pool is created once and warmed up (workers import tdxlib and fill the simulator's caches)
    before anything is timed, so the ratio measures the sweep, not process start-up. Workers get
    scenarios and send back metric rows (``sweep(..., metrics_only=True)``: no frames are built or
    pickled). A control — the same pure-CPU loop serially and through the same pool — shows how
    much parallelism the machine offers right now: on a busy machine both ratios drop together.
    Variants are interleaved for ``rounds`` rounds and the best time of each is kept.
    """
    scs = small(n)
    sweep(scs[:6], metrics_only=True)  # warm this process's imports and caches, as the workers'
    with ProcessPoolExecutor(max_workers=2) as pool:
        pids = set(pool.map(_warm, range(4), chunksize=1))
        variants: dict[str, Callable[[], object]] = {
            "control serial": lambda: [_burn(burn) for _ in range(8)],
            "control pool": lambda: list(pool.map(_burn, [burn] * 8, chunksize=1)),
            "serial": lambda: sweep(scs, metrics_only=True),
            "pool": lambda: sweep(scs, executor=pool, metrics_only=True),
            "pool, full results": lambda: sweep(scs, executor=pool),
        }
        best = {k: float("inf") for k in variants}
        for _ in range(rounds):
            for k, fn in variants.items():
                best[k] = min(best[k], _timed(fn))
    t_serial = best["serial"]
    speed = t_serial / best["pool"]
    full = t_serial / best["pool, full results"]
    ceiling = best["control serial"] / best["control pool"]
    verdict = "OK" if speed >= 1.6 else "LOW"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\nsweep of {n} small scenarios (16 vCPUs, 300 quotes, hotplug every 2 s), {os.cpu_count()} cores,"
        f" load average {load}; pool of {len(pids)} warmed workers, best of {rounds} interleaved rounds"
    )
    rows = [
        ("serial, metrics only", t_serial, f"({t_serial / n * 1000:.1f} ms/scenario)"),
        ("2-process pool, metrics only", best["pool"], f"speed-up {speed:4.2f}x  {verdict} (goal 1.6x)"),
        (
            "2-process pool, full results",
            best["pool, full results"],
            f"speed-up {full:4.2f}x  (frames pickled)",
        ),
    ]
    for label, seconds, note in rows:
        print(f"  {label:<38} {seconds:6.2f} s   {note}")
    print(
        f"  control: a pure-CPU loop gets {ceiling:4.2f}x from the same pool right now"
        f" (sweep efficiency {speed / ceiling:.0%} of that)"
    )
    if ceiling < 1.7:
        print("  (the control is below 1.7x: the machine is busy, so the sweep ratio is not meaningful now)")


def construction(n: int = 20_000, rounds: int = 5) -> None:
    """Microseconds per validated Scenario: from objects (a sweep's way) and from a mapping (a file's)."""
    strat = make_strategy("dynamic", timeout_s=30)
    data = {"cpus": 16, "strategy": {"name": "polling", "interval_ms": 5}, "hotplug": [[1, 2, "offline"]]}
    forms: dict[str, Callable[[], object]] = {
        "Scenario(...) with a strategy object": lambda: Scenario(
            cpus=16, device_irqs=32, strategy=strat, vmm="qemu-10.1", workload="open", quotes=300, seed=3
        ),
        "Scenario.from_dict(mapping of a file)": lambda: Scenario.from_dict(data),
    }
    print(f"\nScenario construction (validated), best of {rounds} x {n:,}")
    for label, make in forms.items():
        best = min(_timed(lambda make=make: [make() for _ in range(n)]) for _ in range(rounds))  # type: ignore[misc]
        print(f"  {label:<40} {best / n * 1e6:6.1f} us")


if __name__ == "__main__":
    big_runs()
    sweep_bench()
    construction()
