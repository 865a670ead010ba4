"""tdxlib — a literate design workbook for the TDX event-notify interrupt debate.

What a notebook imports (loaded lazily, so ``import tdxlib`` stays cheap for the CLI):

- ``load_layout``, ``layout_names`` — x86 IDT vector layouts of a kernel version and config
- ``IrqMatrix`` — the per-CPU vector allocator of ``kernel/irq/matrix.c``
- ``offline_limit`` — the device load a notify mechanism leaves before a CPU offline is refused
- ``QuoteBuffer``, ``load_profile``, ``profile_names``, ``Vmm`` — GHCI calls and host VMM profiles
- ``TdGuest``, ``SystemVector``, ``DynamicIrq``, ``CallerVcpu``, ``Polling``, ``QuoteCarriesVector``
  — the TD guest and the notify strategies of the thread
- ``Scenario``, ``run``, ``sweep`` — the simpy timeline
- ``check``, ``ledger`` — the claims of the thread as executable checks
- ``load_proposal``, ``evaluate`` — spec proposals as data
- ``load_capture``, ``budget_from_capture`` — real machines' ``/proc/interrupts`` and VECTOR dumps
- ``show`` — display an altair chart (live in JupyterLab, inline SVG in reports)
- ``TdxlibError`` — the base of every error tdxlib raises on purpose
"""

from __future__ import annotations

__version__ = "0.1.0"

# jsonschema (under altair and nbformat) compiles a grammar at import that we never need at start-up.
from tdxlib.lazy import defer_rfc3987_syntax as _defer_rfc3987_syntax
from tdxlib.lazy import lazy_exports as _lazy_exports

_defer_rfc3987_syntax()

_EXPORTS: dict[str, str] = {
    "load_layout": "tdxlib.kernel.vectors",
    "layout_names": "tdxlib.kernel.vectors",
    "IrqMatrix": "tdxlib.kernel.matrix",
    "offline_limit": "tdxlib.kernel.budget",
    "QuoteBuffer": "tdxlib.tdx.ghci",
    "load_profile": "tdxlib.tdx.vmm",
    "profile_names": "tdxlib.tdx.vmm",
    "Vmm": "tdxlib.tdx.vmm",
    "TdGuest": "tdxlib.tdx.guest",
    "SystemVector": "tdxlib.tdx.strategies",
    "DynamicIrq": "tdxlib.tdx.strategies",
    "CallerVcpu": "tdxlib.tdx.strategies",
    "Polling": "tdxlib.tdx.strategies",
    "QuoteCarriesVector": "tdxlib.tdx.strategies",
    "Scenario": "tdxlib.sim",
    "run": "tdxlib.sim",
    "sweep": "tdxlib.sim",
    "check": "tdxlib.argument.claims",
    "ledger": "tdxlib.argument.claims",
    "load_proposal": "tdxlib.argument.proposals",
    "evaluate": "tdxlib.argument.proposals",
    "load_capture": "tdxlib.ingest",
    "budget_from_capture": "tdxlib.ingest",
    "show": "tdxlib.workbook.charts",
    "TdxlibError": "tdxlib.errors",
}

__all__ = [*_EXPORTS, "__version__"]


__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, ("__version__",))
