"""A sweep spec (``data/sweeps/*.yaml``): the axes of the design space, the seeds, what each cell records.

One file kind, one pydantic model (:class:`SweepSpec`, through :mod:`tdxlib.models`), so an error names
file, line, field and value. An axis is any :class:`~tdxlib.sim.Scenario` field (the strategy, the VMM
profile, the CPU count, the device load, the workload, the guest kernel once Scenario has one, ...) with
its values, ``proposal`` (a spec proposal id or path: its strategy, VMM behaviour and layout), or a
device load given per CPU (``device_irqs: {per_cpu: [...]}``). ``base`` fixes Scenario fields in every
cell; ``seeds`` is the number of replicate cells per point of the grid; ``metrics`` and ``claims`` are
the columns each cell records. Every value is tried as a Scenario when the file is read, so a bad one
is reported at its line, not by a worker an hour later.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from tdxlib.argument.proposals import resolve as resolve_proposal
from tdxlib.argument.proposals.fields import field_error
from tdxlib.cache import glob_key, memo, stat_key
from tdxlib.data import data_path, is_file, load_yaml
from tdxlib.errors import DataError, TdxlibError, ValidationError
from tdxlib.models import Model, field_path, line_for, validate
from tdxlib.sim import Metrics, Scenario
from tdxlib.sweeps.paths import spec_names, spec_path
from tdxlib.sweeps.predicates import predicate_ids

__all__ = [
    "DEFAULT_METRICS",
    "METRIC_NAMES",
    "PER_CPU_FIELDS",
    "Axis",
    "PerCpu",
    "SweepSpec",
    "load_spec",
    "value_label",
]

#: Scenario fields an axis may give per CPU (the cell's value is the number times its CPU count).
PER_CPU_FIELDS: tuple[str, ...] = ("device_irqs", "managed_queues")
#: Every metric a cell can record: the flat :class:`~tdxlib.sim.Metrics` of one run.
METRIC_NAMES: tuple[str, ...] = tuple(Metrics(latency_ms={"min": 0, "p50": 0, "p99": 0, "max": 0}).flat())
#: What a cell records when the spec names no metrics: the numbers the claims are decided on.
DEFAULT_METRICS: tuple[str, ...] = (
    "quotes_issued",
    "completed",
    "timed_out",
    "hung",
    "notifications_injected",
    "lost_notifications",
    "offline_refused",
    "offline_ok",
    "notify_migrations",
    "loss_window_s",
    "vectors_total",
    "latency_ms_p50",
    "latency_ms_p99",
)

#: A value on an axis: a scalar, or a mapping (a strategy with parameters, ``{name: polling, ...}``).
Value = str | int | float | bool | None | dict[str, Any]
_SPECIAL_AXES = ("proposal",)
_DEFAULT_CPUS: int = Scenario().cpus
_FORBIDDEN = ("seed",)  # derived per cell from the spec and the cell


class PerCpu(Model):
    """``{per_cpu: [...]}``: a load per CPU; the cell's field is the value times its CPU count."""

    per_cpu: Annotated[list[Annotated[int | float, Field(ge=0, allow_inf_nan=False)]], Field(min_length=1)]


Axis = Annotated[list[Value], Field(min_length=1)] | PerCpu


class SweepSpec(Model):
    """A sweep: the grid of ``axes`` × ``seeds`` replicates over ``base``; what each cell records."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    seeds: Annotated[int, Field(ge=1, le=100_000)] = 1
    base: dict[str, Any] = Field(default_factory=dict)
    axes: Annotated[dict[str, Axis], Field(min_length=1)]
    metrics: tuple[str, ...] = DEFAULT_METRICS
    claims: tuple[str, ...] | None = None
    batch: Annotated[int, Field(ge=1, le=10_000)] | None = None
    partition: str | None = None

    @model_validator(mode="after")
    def _names(self) -> SweepSpec:
        fields = scenario_fields()
        for where, names in (("axes", self.axes), ("base", self.base)):
            for name in names:
                if name in _FORBIDDEN:
                    raise field_error("each cell's seed is derived from `seed` and the cell", where, name)
                if name not in fields and not (where == "axes" and name in _SPECIAL_AXES):
                    raise field_error(
                        f"not a Scenario field; expected one of {', '.join(fields)}", where, name
                    )
        for name in sorted(set(self.axes) & set(self.base)):
            raise field_error("also an axis (a field is either fixed or swept)", "base", name)
        if "proposal" in self.axes:
            for name in sorted({"strategy", "vmm", "layout"} & set(self.base)):
                raise field_error("set by the proposal axis (drop it)", "base", name)
            for name in sorted({"strategy", "vmm", "layout"} & set(self.axes)):
                raise field_error("set by the proposal axis (drop it)", "axes", name)
        for name, axis in self.axes.items():
            _check_axis(name, axis)
        for i, metric in enumerate(self.metrics):
            if metric not in METRIC_NAMES:
                raise field_error(f"not a metric; expected some of {', '.join(METRIC_NAMES)}", "metrics", i)
        known = predicate_ids()
        for i, cid in enumerate(self.claims or ()):
            if cid not in known:
                raise field_error(
                    f"{cid!r} has no per-cell predicate; expected some of {', '.join(known)}", "claims", i
                )
        if self.partition is not None and self.partition not in self.axes:
            raise field_error(f"not an axis ({', '.join(self.axes)})", "partition")
        return self

    # ------------------------------------------------------------------ derived

    @property
    def claim_ids(self) -> tuple[str, ...]:
        """The claims each cell is judged on: ``claims``, or every claim with a predicate."""
        return self.claims if self.claims is not None else predicate_ids()

    @property
    def partition_axis(self) -> str:
        """The axis the dataset is partitioned by (``partition``, else the first axis)."""
        return self.partition or next(iter(self.axes))

    def column(self, axis: str) -> str:
        """The dataset column of an axis: its name, ``<name>_per_cpu`` for a per-CPU axis."""
        return f"{axis}_per_cpu" if isinstance(self.axes[axis], PerCpu) else axis

    def values(self, axis: str) -> list[Any]:
        """The values of an axis as given (per-CPU axes: the numbers per CPU)."""
        a = self.axes[axis]
        return list(a.per_cpu) if isinstance(a, PerCpu) else list(a)

    @property
    def points(self) -> int:
        """Points of the grid (the product of the axes' lengths)."""
        return math.prod(len(self.values(a)) for a in self.axes)

    @property
    def cells(self) -> int:
        """Cells of the sweep: points × seeds."""
        return self.points * self.seeds

    def fields_of(self, coords: Mapping[str, Any], seed: int) -> dict[str, Any]:
        """The Scenario fields of the point ``coords`` (axis -> value as given) with ``seed``: the base,
        each axis value (a per-CPU load times the cell's CPU count; a proposal's strategy, VMM behaviour
        and layout), YAML lists as tuples."""
        out = {k: _tuples(v) for k, v in self.base.items()}
        for axis, value in coords.items():
            if axis == "proposal":
                p = resolve_proposal(value)
                out |= {"strategy": p.build_strategy(), "vmm": p.vmm_profile(), "layout": p.strategy.layout}
            elif not isinstance(self.axes[axis], PerCpu):
                out[axis] = _tuples(value)
        cpus = out.get("cpus", _DEFAULT_CPUS)
        for axis, value in coords.items():
            if isinstance(self.axes[axis], PerCpu):
                if not isinstance(cpus, int) or isinstance(cpus, bool):
                    raise ValidationError(
                        "cpus", cpus, f"a number of vCPUs (the per-CPU axis {axis} needs it)"
                    )
                try:
                    out[axis] = round(value * cpus)
                except (OverflowError, ValueError):
                    raise ValidationError(axis, value, "a finite load per CPU") from None
        out["seed"] = seed
        return out

    def plain(self) -> dict[str, Any]:
        """The spec as plain JSON data (what a result folder keeps beside its cells)."""
        return json.loads(self.model_dump_json())


def _tuples(value: Any) -> Any:
    """A YAML list as a tuple (Scenario's sequence fields are tuples), mappings left as they are."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "str" if isinstance(value, (str, dict)) else type(value).__name__


def _check_axis(name: str, axis: Any) -> None:
    """Values unique and of one kind (a dataset column has one type); per CPU only for IRQ counts."""
    if isinstance(axis, PerCpu):
        if name not in PER_CPU_FIELDS:
            raise field_error(f"only {', '.join(PER_CPU_FIELDS)} can be given per CPU", "axes", name)
        values: list[Any] = list(axis.per_cpu)
    else:
        values = list(axis)
    labels = [value_label(v) for v in values]
    for i, label in enumerate(labels):
        if label in labels[:i]:
            raise field_error(f"{label!r} is given twice", "axes", name, i)
    kinds = [_kind(v) for v in values]
    for i, kind in enumerate(kinds):
        if kind != "null" and kind != next(k for k in kinds if k != "null"):
            raise field_error("values of one kind expected (numbers, strings or booleans)", "axes", name, i)


def value_label(value: Any) -> Any:
    """What a dataset column holds for an axis value: the scalar itself, a mapping as a short label
    (``{name: polling, interval_ms: 5}`` -> ``polling interval_ms=5``)."""
    if not isinstance(value, Mapping):
        return value
    rest = {k: v for k, v in sorted(value.items()) if k != "name"}
    parts = [str(value.get("name", ""))] if "name" in value else []
    parts += [f"{k}={json.dumps(v, sort_keys=True, separators=(',', ':'))}" for k, v in rest.items()]
    return " ".join(parts)


@memo(maxsize=1)
def scenario_fields() -> tuple[str, ...]:
    """The names of :class:`~tdxlib.sim.Scenario`'s fields (any of them can be an axis)."""
    return tuple(Scenario().to_dict())


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


def _try_scenarios(spec: SweepSpec, data: Any, path: Path) -> None:
    """Each axis value with the base and the other axes' first values must make a Scenario."""
    first = {a: spec.values(a)[0] for a in spec.axes}
    for axis in spec.axes:
        for i, value in enumerate(spec.values(axis)):
            coords = {**first, axis: value}
            try:
                Scenario(**spec.fields_of(coords, seed=0))
            except TdxlibError as exc:
                loc: list[str | int] = ["axes", axis]
                loc += ["per_cpu", i] if isinstance(spec.axes[axis], PerCpu) else [i]
                raise DataError(str(exc), path, line_for(data, loc), field_path(loc)) from None


@memo(maxsize=16)
def _load_at(stat: tuple[tuple[str, int, int], ...]) -> SweepSpec:
    path = Path(stat[0][0])
    data = load_yaml(path)
    spec = validate(SweepSpec, data, path, what="a sweep spec")
    _try_scenarios(spec, data, path)
    return spec


def load_spec(spec: SweepSpec | str | Path) -> SweepSpec:
    """A spec from a shipped name (``default``), a path, or a spec (returned as it is); read again when
    its file or a VMM profile changed."""
    if isinstance(spec, SweepSpec):
        return spec
    path = spec_path(spec)
    if not is_file(path):
        raise ValidationError("sweep spec", str(spec), f"one of {', '.join(spec_names())} or a .yaml file")
    return _load_at((*stat_key(path), *glob_key(data_path("vmm"))))
