"""The GetQuote shared buffer (``struct tdx_quote_buf``) encoded to and decoded from real bytes.

The header layout (field order, types, offsets) is get_quote.yaml's ``header``: its struct format is
built from the facts on first use, so importing this module reads no data.
"""

from __future__ import annotations

import struct
from dataclasses import field
from typing import Annotated

from pydantic import BeforeValidator, ConfigDict, Strict
from pydantic.dataclasses import dataclass

from tdxlib.cache import memo
from tdxlib.errors import DataError, ValidationError
from tdxlib.models import api_dataclass
from tdxlib.tdx.ghci.factfiles import U32, U64
from tdxlib.tdx.ghci.facts import check_register, constants, current_facts

#: The header fields the code reads and writes, in the kernel's order.
HEADER_FIELDS = ("version", "status", "in_len", "out_len")

_STRUCT_CODES = {"u64": "Q", "u32": "I"}


@memo(maxsize=1)
def header_struct() -> struct.Struct:
    """The little-endian header (version u64, status u64, in_len u32, out_len u32) from the facts."""
    f = current_facts()
    header = struct.Struct("<" + "".join(_STRUCT_CODES[h.type] for h in f.header))
    if header.size != f.header_size or [h.field for h in f.header] != list(HEADER_FIELDS):
        raise DataError("header must be version, status, in_len, out_len", f.paths.get("get_quote"))
    return header


def _structure_version() -> int:
    return constants().GET_QUOTE_STRUCTURE_VERSION


def _status_on_entry() -> int:
    return constants().GET_QUOTE_SUCCESS


def _bytes_like(value: object) -> object:
    """bytearray and memoryview as bytes; anything else is left for the strict check to refuse."""
    return bytes(value) if isinstance(value, (bytearray, memoryview)) else value


Bytes = Annotated[bytes, Strict(), BeforeValidator(_bytes_like)]


@api_dataclass
@dataclass(config=ConfigDict(extra="forbid"))
class QuoteBuffer:
    """The GetQuote shared buffer: a 24-byte little-endian header, then ``data`` at offset 24.

    ``version`` defaults to the structure version (1) and ``status`` to 0: the guest zeroes status and
    out_len on entry (QEMU's header asks so, to avoid leaks); the VMM writes ``GET_QUOTE_IN_FLIGHT``
    when it queues the request. Every field is checked on construction (a u64, a u32, bytes).
    """

    version: U64 = field(default_factory=_structure_version)
    status: U64 = field(default_factory=_status_on_entry)
    in_len: U32 = 0
    out_len: U32 = 0
    data: Bytes = b""

    def _check(self) -> None:
        """The fields again (they may have been assigned since construction)."""
        QuoteBuffer(self.version, self.status, self.in_len, self.out_len, self.data)

    @classmethod
    def request(cls, message: bytes, *, version: int | None = None) -> QuoteBuffer:
        """What a guest writes before GetQuote: version, status 0, in_len = len(message), out_len 0."""
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise ValidationError("GetQuote message", type(message).__name__, "bytes (e.g. a TDREPORT)")
        k = constants()
        return cls(
            version=k.GET_QUOTE_STRUCTURE_VERSION if version is None else version,
            status=k.GET_QUOTE_SUCCESS,
            in_len=len(message),
            out_len=0,
            data=bytes(message),
        )

    @property
    def size(self) -> int:
        """Bytes needed for header plus data."""
        return constants().GET_QUOTE_DATA_OFFSET + len(self.data)

    def to_bytes(self, size: int | None = None) -> bytes:
        """Encode to ``size`` bytes (zero padded; default: exactly header + data)."""
        self._check()
        need = self.size
        if size is None:
            size = need
        if not isinstance(size, int) or isinstance(size, bool) or size < need:
            raise ValidationError(
                "GetQuote buffer size", size, f">= {need} (24-byte header + {len(self.data)} data bytes)"
            )
        head = header_struct().pack(self.version, self.status, self.in_len, self.out_len)
        return head + self.data + bytes(size - need)

    @classmethod
    def from_bytes(cls, b: bytes | bytearray | memoryview) -> QuoteBuffer:
        """Decode a buffer; everything after the header is ``data``. Short input -> ValidationError."""
        if not isinstance(b, (bytes, bytearray, memoryview)):
            raise ValidationError("GetQuote buffer", type(b).__name__, "bytes")
        raw = bytes(b)
        k = constants()
        if len(raw) < k.GET_QUOTE_HDR_SIZE:
            raise ValidationError(
                "GetQuote buffer length", len(raw), f">= {k.GET_QUOTE_HDR_SIZE} bytes (the header)"
            )
        version, status, in_len, out_len = header_struct().unpack_from(raw, 0)
        return cls(
            version=version,
            status=status,
            in_len=in_len,
            out_len=out_len,
            data=raw[k.GET_QUOTE_DATA_OFFSET :],
        )

    def message(self) -> bytes:
        """The in-message (``in_len`` bytes after the header)."""
        if self.in_len > len(self.data):
            raise ValidationError("QuoteBuffer.in_len", self.in_len, f"<= {len(self.data)} (the data held)")
        return self.data[: self.in_len]

    def quote(self) -> bytes:
        """The quote the VMM wrote (``out_len`` bytes after the header)."""
        if self.out_len > len(self.data):
            raise ValidationError("QuoteBuffer.out_len", self.out_len, f"<= {len(self.data)} (the data held)")
        return self.data[: self.out_len]

    def completed(self, status: int, quote: bytes = b"") -> QuoteBuffer:
        """The buffer as the VMM leaves it on completion: quote over the data (on success), then status.

        The quote must be bytes and fit the data area this buffer holds (decode the whole shared buffer
        with :meth:`from_bytes` to complete it with a quote longer than the request)."""
        check_register("GetQuote header status", status)
        if not isinstance(quote, (bytes, bytearray, memoryview)):
            raise ValidationError("GetQuote quote", quote, "bytes (what the quote service returned)")
        if len(quote) > len(self.data):
            raise ValidationError(
                "GetQuote quote length",
                len(quote),
                f"<= {len(self.data)} bytes, the data area of this buffer (a VMM never writes past it)",
            )
        if status == constants().GET_QUOTE_SUCCESS:
            q = bytes(quote)
            data = q + self.data[len(q) :]
            return QuoteBuffer(self.version, status, self.in_len, len(q), data)
        return QuoteBuffer(self.version, status, self.in_len, self.out_len, self.data)

    @property
    def in_flight(self) -> bool:
        """True while the VMM has not answered (status is GET_QUOTE_IN_FLIGHT)."""
        return self.status == constants().GET_QUOTE_IN_FLIGHT
