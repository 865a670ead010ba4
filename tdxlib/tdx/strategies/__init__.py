"""The notify strategies of the 2022 review, one small class each, sharing :class:`NotifyStrategy`.

==========================  ===========================================================================
``SystemVector``            v8: a system vector on every CPU, fan-out handler
``DynamicIrq``              one vector on one CPU; ``apic_targeting=True`` adds the APIC ID (Kai Huang)
``CallerVcpu``              the 2022 GHCI rule: call SetupEventNotifyInterrupt from the vector's CPU
``Polling``                 no interrupt: the merged 6.7 driver's loop (1 s, 30 tries by default)
``QuoteCarriesVector``      GetQuote names vector (and APIC ID); no SetupEventNotifyInterrupt
==========================  ===========================================================================

:func:`make_strategy` builds one from its CLI/YAML name and parameters; :func:`native_strategy` names
the one a guest kernel profile's own GetQuote driver is.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

import pydantic

from tdxlib.cache import memo
from tdxlib.errors import ValidationError
from tdxlib.kernel.profile import KernelProfile, load_kernel
from tdxlib.models import build
from tdxlib.tdx.strategies.base import NotifyContext, NotifyStrategy
from tdxlib.tdx.strategies.dynamic_irq import CallerVcpu, DynamicIrq
from tdxlib.tdx.strategies.polling import Polling, PollOutcome
from tdxlib.tdx.strategies.quote_carries_vector import QuoteCarriesVector
from tdxlib.tdx.strategies.system_vector import SystemVector

__all__ = [
    "STRATEGY_NAMES",
    "CallerVcpu",
    "DynamicIrq",
    "NotifyContext",
    "NotifyStrategy",
    "PollOutcome",
    "Polling",
    "QuoteCarriesVector",
    "SystemVector",
    "make_strategy",
    "native_strategy",
]

#: CLI / YAML names -> (class, preset parameters).
_REGISTRY: dict[str, tuple[type[NotifyStrategy], dict[str, Any]]] = {
    "system-vector": (SystemVector, {}),
    "dynamic": (DynamicIrq, {}),
    "dynamic-apic": (DynamicIrq, {"apic_targeting": True}),
    "caller-vcpu": (CallerVcpu, {}),
    "polling": (Polling, {}),
    "quote-carries-vector": (QuoteCarriesVector, {}),
}

STRATEGY_NAMES: tuple[str, ...] = tuple(_REGISTRY)


@memo(maxsize=16)
def _parameters(cls: type[NotifyStrategy]) -> type[pydantic.BaseModel]:
    """The parameters of a strategy class as a strict pydantic model (a YAML ``"no"`` is not false, an
    unknown name is an error listing the known ones); ``fallback`` is checked by the class itself."""
    hints = typing.get_type_hints(cls, localns={"Polling": Polling})
    fields: dict[str, Any] = {
        f.name: (hints[f.name], None) for f in dataclasses.fields(cls) if f.name != "fallback"
    }
    fields["fallback"] = (Any, None)
    config = pydantic.ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
    return pydantic.create_model(f"{cls.__name__}Parameters", __config__=config, **fields)


def make_strategy(name: str, **params: Any) -> NotifyStrategy:
    """Build a strategy from its name (``system-vector``, ``dynamic``, ``dynamic-apic``, ``caller-vcpu``,
    ``polling``, ``quote-carries-vector``) and keyword parameters; a nested ``fallback`` may be a dict.
    Every parameter is checked for its type first (ValidationError naming it), then by the class."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValidationError("strategy", name, ", ".join(STRATEGY_NAMES))
    cls, preset = _REGISTRY[name]
    allowed = [f.name for f in dataclasses.fields(cls)]
    if any(k not in allowed for k in params):
        raise ValidationError(
            f"{name} parameters", sorted(map(str, params)), f"names among: {', '.join(allowed)}"
        )
    build(_parameters(cls), params)
    kwargs = {**preset, **params}
    fb = kwargs.get("fallback")
    if isinstance(fb, Mapping):
        fb = dict(fb)
        fb_name = fb.pop("name", "polling")
        if not all(isinstance(k, str) for k in fb):
            raise ValidationError("fallback", fb, "{name: polling, parameter: value, ...}")
        kwargs["fallback"] = make_strategy(fb_name, **fb)
    return cls(**kwargs)


def native_strategy(kernel: str | KernelProfile) -> dict[str, Any]:
    """The strategy spec (``{"name": ..., **params}``) of a kernel profile's own GetQuote driver: the v8
    driver waits for its system vector; the merged poller polls with its constants and, from 7.1, turns
    a failed status into -EIO (``status_check``). A kernel without a driver (6.6) gets the poller that
    came next (6.7), as the design its guests would run."""
    driver = load_kernel(kernel).quote_driver
    if driver.value == "event-notify-v8":
        return {"name": "system-vector"}
    if driver.value == "none":
        return {"name": "polling", "status_check": False}
    return {
        "name": "polling",
        "interval_ms": driver.poll_ms,
        "timeout_s": driver.timeout_s,
        "status_check": bool(driver.error_status_is_error),
    }
