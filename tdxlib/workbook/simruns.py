"""Simulation runs for the notebooks, one memo entry per scenario key (``tdxlib.cache.memo``), so a
panel redraws at once when a control moves back; no caller can change what another gets (metrics are
frozen, a run with its frames is copied)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tdxlib.cache import memo
from tdxlib.errors import ValidationError
from tdxlib.sim import Metrics, Result, Scenario, run
from tdxlib.tdx.strategies import STRATEGY_NAMES

__all__ = [
    "ScenarioKey",
    "metrics_cached",
    "metrics_of",
    "run_cached",
    "run_of",
    "scenario_key",
    "strategy_spec",
]

ScenarioKey = tuple[tuple[str, Any], ...]


class _FrozenDict(tuple[Any, ...]):
    """A mapping frozen into sorted (key, value) pairs, so scenario keys can be cached."""

    __slots__ = ()


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _FrozenDict(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, _FrozenDict):
        return {k: _thaw(v) for k, v in value}
    return value


def scenario_key(**fields: Any) -> ScenarioKey:
    """A hashable key of ``Scenario(**fields)`` (None fields left out: the scenario's defaults)."""
    return tuple(sorted((k, _freeze(v)) for k, v in fields.items() if v is not None))


def _scenario(key: ScenarioKey) -> Scenario:
    return Scenario(**{k: _thaw(v) for k, v in key})


def run_of(key: ScenarioKey) -> Result:
    """A run with its event and quote frames (timelines need them), computed now: for a memo of what
    is derived from it."""
    return run(_scenario(key))


@memo(maxsize=512, copy=copy.deepcopy)
def run_cached(key: ScenarioKey) -> Result:
    """A run with its frames (:func:`run_of`), memoised; a copy per caller."""
    return run_of(key)


def metrics_of(key: ScenarioKey) -> Metrics:
    """The metrics of a run, computed now from the simulator's metrics-only fast path (identical
    numbers, no frames): for a memo of what is derived from them (a frozen table row)."""
    return run(_scenario(key), frames=False).metrics


@memo(maxsize=4096)
def metrics_cached(key: ScenarioKey) -> Metrics:
    """The metrics of a run (:func:`metrics_of`), memoised; frozen, so every caller may share them."""
    return metrics_of(key)


def strategy_spec(name: str, **params: Any) -> dict[str, Any]:
    """``{"name": name, **params}`` for a known strategy name (ValidationError naming the known ones)."""
    if name not in STRATEGY_NAMES:
        raise ValidationError("strategy", name, ", ".join(STRATEGY_NAMES))
    return {"name": name, **params}
