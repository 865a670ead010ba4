"""The GHCI TDVMCALLs of the event-notify debate, as data and real bytes.

Leaf numbers, status codes, the GetQuote buffer layout and the argument limits are read from
``data/ghci/*.yaml`` (each with its source) on first use, never at import: a broken data file is a
``DataError`` naming file and line where it is first needed, and ``import tdxlib.sim`` still works.

- :mod:`~tdxlib.tdx.ghci.facts` — the data: :class:`Leaf`, :class:`StatusCode`, :class:`HeaderField`,
  :class:`GhciFacts`, :func:`load_facts`;
- :mod:`~tdxlib.tdx.ghci.buffer` — the GetQuote shared buffer encoded to and decoded from bytes;
- :mod:`~tdxlib.tdx.ghci.calls` — the request records and the argument checks the real stack
  applies: ``check_*`` return the spec's status code (the VMM boundary), ``validate_*`` raise a
  ``TdxlibError`` naming the bad value and the allowed range (the Python API).

The kernel's constants (``TDVMCALL_GET_QUOTE``, ``GET_QUOTE_IN_FLIGHT``, ``TDX_REPORT_LEN``, ...; every
leaf and status ``constant:`` of the data) and ``FACTS``, ``LEAVES``, ``TDVMCALL_STATUS``,
``GET_QUOTE_STATUS`` are attributes of this package resolved on first access (PEP 562), then kept in its
namespace like any module constant; :func:`tdxlib.cache.clear_all` makes the next access read the data
again.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tdxlib.cache import register
from tdxlib.tdx.ghci.buffer import QuoteBuffer
from tdxlib.tdx.ghci.calls import (
    TDX_HYPERCALL_STANDARD,
    CheckResult,
    GetQuote,
    GetQuoteChecks,
    SetupEventNotifyInterrupt,
    check_get_quote,
    check_setup_event_notify,
    explain_get_quote,
    explain_setup_event_notify,
    get_quote_status_name,
    raise_for_status,
    shared_bit_for_gpaw,
    shared_gpa,
    status_name,
    validate_apic_id,
    validate_get_quote,
    validate_setup_event_notify,
    validate_vector,
)
from tdxlib.tdx.ghci.factfiles import U32_MAX, U64_MAX
from tdxlib.tdx.ghci.facts import (
    CONSTANT_NAMES,
    GhciFacts,
    HeaderField,
    Leaf,
    StatusCode,
    constants,
    current_facts,
    load_facts,
    named_constant,
)

#: The tables of the facts in effect, by module attribute.
_TABLES = {"LEAVES": "leaves", "TDVMCALL_STATUS": "tdvmcall_status", "GET_QUOTE_STATUS": "get_quote_status"}


class _Info(NamedTuple):
    hits: int
    misses: int
    maxsize: int
    currsize: int


class _Published:
    """The constants and tables copied into this module's namespace on first access, so that later
    reads cost what a plain module constant does; :func:`tdxlib.cache.clear_all` takes them out again
    (the next access reads the facts anew)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.misses = 0

    def publish(self) -> None:
        f, k = current_facts(), constants()  # a DataError here publishes nothing
        values: dict[str, Any] = {"FACTS": f, **{n: getattr(f, a) for n, a in _TABLES.items()}}
        values.update((n, getattr(k, n)) for n in CONSTANT_NAMES)
        globals().update(values)
        self.names.update(values)
        self.misses += 1

    def cache_clear(self) -> None:
        namespace = globals()
        for name in self.names:
            namespace.pop(name, None)
        self.names.clear()

    def cache_info(self) -> _Info:
        return _Info(0, self.misses, 1, len(self.names))


_published = register(_Published())


def __getattr__(name: str) -> Any:
    """The data's constants and tables, resolved on first access (PEP 562), never at import."""
    if name == "FACTS" or name in _TABLES or name in CONSTANT_NAMES:
        _published.publish()
        return globals()[name]
    if name.startswith(("TDVMCALL_", "GET_QUOTE_")):  # a leaf or status added to data/ghci
        value = named_constant(name)
        if value is not None:
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# The data's constants are named once, by the fields of facts.GhciConstants.
__all__ = [
    *sorted(CONSTANT_NAMES),
    "FACTS",
    *_TABLES,
    "TDX_HYPERCALL_STANDARD",
    "U32_MAX",
    "U64_MAX",
    "CheckResult",
    "GetQuote",
    "GetQuoteChecks",
    "GhciFacts",
    "HeaderField",
    "Leaf",
    "QuoteBuffer",
    "SetupEventNotifyInterrupt",
    "StatusCode",
    "check_get_quote",
    "check_setup_event_notify",
    "explain_get_quote",
    "explain_setup_event_notify",
    "get_quote_status_name",
    "load_facts",
    "raise_for_status",
    "shared_bit_for_gpaw",
    "shared_gpa",
    "status_name",
    "validate_apic_id",
    "validate_get_quote",
    "validate_setup_event_notify",
    "validate_vector",
]
