"""Report build cost: the full build of notebooks/reports.yaml against its floor, and the no-op rebuild.

The full build renders every chart (a fresh output directory); "full again" re-executes everything
with the SVG cache warm, as `make reports` does after a tdxlib change. The floor is the same runs
executed the same way (same pipeline, kernels, parallelism, export) with
notebooks that hold only their parameters cell and their import statements: what any build must pay
for kernel start-up and imports. Goal: full build <= 1.5 x floor; no-op rebuild < 3 s.

Shared machines are noisy (the same build varies by 10-40 % from one minute to the next), so floor
and full build are measured ``--repeat`` times, alternately, each into a fresh output folder; the
ratio is that of the fastest of each (as ``timeit`` does), and every sample is printed, with the
ratio of each floor/full pair and their median (a pair is measured back to back, so a slow spell of
the machine shows in both of its builds instead of in one of the fastest). The CPU time of each
build (this process, its kernels and its renderer) is printed too: it moves much less than wall time
when other machines' work slows this one, and shows what the notebooks' work costs when the cores
would otherwise idle (kernel start-up waits).

    python benchmarks/bench_reports.py [--config notebooks/reports.yaml] [--jobs N] [--reduced] [--repeat N]

With no runs listed in reports.yaml yet, the test fixtures (tests/fixtures/notebooks) are measured.
"""

from __future__ import annotations

import argparse
import ast
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_YAML = "notebooks:\n  fx_report:\n    small: {cpus: 8}\n    big: {cpus: 1024}\n  fx_small:\n"


def import_lines(nb: dict[str, Any]) -> list[str]:
    """The top-level import statements of every code cell (not the parameters cell)."""
    lines: list[str] = []
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] != "code" or "parameters" in tags:
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        lines += [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    return list(dict.fromkeys(lines))


def floor_project(config: Path, where: Path) -> Path:
    """A copy of the project whose notebooks keep only the parameters cell and the imports."""
    nb_dir = where / "notebooks"
    nb_dir.mkdir(parents=True)
    for src in config.parent.glob("*.ipynb"):
        nb = json.loads(src.read_text(encoding="utf-8"))
        params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        imports: dict[str, Any] = {
            "cell_type": "code",
            "id": "imports",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": "\n".join(import_lines(nb)),
        }
        nb["cells"] = [*params, imports]
        (nb_dir / src.name).write_text(json.dumps(nb), encoding="utf-8")
    shutil.copy(config, nb_dir / "reports.yaml")
    return nb_dir / "reports.yaml"


def model_seconds(executed: Path) -> float:
    """Seconds an executed notebook spent in its cells other than the parameters and import-only cells."""
    total = 0.0
    for cell in json.loads(executed.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        try:
            body = ast.parse(src).body
        except SyntaxError:
            body = []
        if all(
            isinstance(n, (ast.Import, ast.ImportFrom, ast.AnnAssign, ast.Assign, ast.Expr)) for n in body
        ) and any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body):
            continue  # an import cell (the floor has it too)
        tags = cell.get("metadata", {}).get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            continue
        total += float(cell.get("metadata", {}).get("papermill", {}).get("duration") or 0.0)
    return total


def _samples(seconds: list[float]) -> str:
    return "   (samples: " + ", ".join(f"{x:.2f}" for x in seconds) + ")"


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (kernels, renderer) so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


#: CPU seconds of every build timed so far, in order (kernels and renderer are reaped by the build).
CPU_SPENT: list[float] = []


def timed_build(**kwargs: Any) -> tuple[float, Any]:
    from tdxlib.report.build import build

    cpu = _cpu_seconds()
    start = time.perf_counter()
    result = build(progress=False, **kwargs)
    elapsed = time.perf_counter() - start
    CPU_SPENT.append(_cpu_seconds() - cpu)
    if not result.ok:
        for err in result.errors:
            print(f"FAILED {err}", file=sys.stderr)
        raise SystemExit(1)
    return elapsed, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "notebooks" / "reports.yaml"))
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--reduced", action="store_true", help="the reduced sets only")
    parser.add_argument("--repeat", type=int, default=3, help="floor/full pairs to measure (default 3)")
    args = parser.parse_args()

    from tdxlib.report.config import load_config

    config = Path(args.config)
    with tempfile.TemporaryDirectory(prefix="bench_reports.") as tmp_name:
        tmp = Path(tmp_name)
        cfg = load_config(config)
        source = str(config)
        if not (cfg.reduced_runs if args.reduced else cfg.runs):
            fixtures = tmp / "fixtures" / "notebooks"
            shutil.copytree(ROOT / "tests" / "fixtures" / "notebooks", fixtures)
            (fixtures / "reports.yaml").write_text(FIXTURE_YAML, encoding="utf-8")
            config, source = fixtures / "reports.yaml", f"{config} lists no runs; measuring the test fixtures"
            cfg = load_config(config)
        runs = cfg.reduced_runs if args.reduced else cfg.runs
        common = {"jobs": args.jobs, "reduced": args.reduced, "force": True}

        floor_cfg = floor_project(config, tmp / "floor")
        floors: list[float] = []
        fulls: list[float] = []
        floor_cpu: list[float] = []
        full_cpu: list[float] = []
        for i in range(max(1, args.repeat)):
            floors.append(timed_build(config=floor_cfg, out=tmp / f"floor-out-{i}", **common)[0])
            floor_cpu.append(CPU_SPENT[-1])
            if i:  # a fresh output folder each time: nothing cached from the previous full build
                shutil.rmtree(tmp / "full-out")
            fulls.append(timed_build(config=config, out=tmp / "full-out", **common)[0])
            full_cpu.append(CPU_SPENT[-1])
        floor_s, full_s = min(floors), min(fulls)
        model_s = sum(model_seconds(p) for p in (tmp / "full-out").glob("*.ipynb"))
        # what `make reports` costs after a tdxlib change: every run re-executes, unchanged charts are cached
        warm_s, _ = timed_build(config=config, out=tmp / "full-out", **common)
        noop_s, noop = timed_build(config=config, out=tmp / "full-out", jobs=args.jobs, reduced=args.reduced)
        cli = [
            sys.executable,
            "-m",
            "tdxlib",
            "report",
            "-q",
            "--config",
            str(config),
            "--out",
            str(tmp / "full-out"),
        ]
        if args.reduced:
            cli.append("--reduced")
        start = time.perf_counter()
        subprocess.run(cli, check=True)
        noop_cli_s = time.perf_counter() - start

    import os

    jobs = args.jobs or "cores"
    n_jobs = min(args.jobs or os.cpu_count() or 1, len(runs))
    overhead = full_s - floor_s - model_s / n_jobs
    print(f"bench_reports: {len(runs)} run(s), jobs={jobs} ({source})")
    print(f"  full build (--force)       {full_s:7.2f} s{_samples(fulls)}")
    print(f"  floor (imports only)       {floor_s:7.2f} s{_samples(floors)}")
    print(f"  ratio full/floor           {full_s / floor_s:7.2f} x   (goal <= 1.5 x)")
    if len(fulls) > 1:
        ratios = [b / a for a, b in zip(floors, fulls, strict=True)]
        print(f"    ratio of each pair: {', '.join(f'{r:.2f}' for r in ratios)}")
        print(f"    median pair ratio   {statistics.median(ratios):7.2f} x   (pairs run back to back)")
    cpu_ratio = min(full_cpu) / min(floor_cpu)
    print(
        f"  CPU time, all processes    full {min(full_cpu):.1f} s, floor {min(floor_cpu):.1f} s: "
        f"{cpu_ratio:.2f} x   (steadier than wall time on a busy machine)"
    )
    print(f"  full again, SVG cache warm {warm_s:7.2f} s   ({warm_s / floor_s:.2f} x floor)")
    print(
        f"  notebooks' own cell time   {model_s:7.2f} s summed over runs, ~{model_s / n_jobs:.2f} s wall "
        f"on {n_jobs} kernels"
    )
    print(f"  pipeline overhead (rest)   {overhead:7.2f} s   (render, export, summaries, contention)")
    print(f"  no-op rebuild, in process  {noop_s:7.2f} s   ({len(noop.executed)} executed)")
    if noop.executed:
        why = sorted({r for s in noop.states for r in s.reasons})
        print(f"    (inputs changed during the benchmark: {', '.join(why)}; re-run on a quiet tree)")
    print(f"  no-op rebuild, CLI         {noop_cli_s:7.2f} s   (goal < 3 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
