"""tdxlib.tdx.ghci.buffer: the GetQuote shared buffer in real bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxlib.errors import TdxlibError, ValidationError
from tdxlib.tdx import ghci

# --- the GetQuote buffer -------------------------------------------------------------------------------


def test_header_layout_is_the_kernel_struct() -> None:
    qb = ghci.QuoteBuffer(version=1, status=ghci.GET_QUOTE_IN_FLIGHT, in_len=1024, out_len=7, data=b"xyz")
    raw = qb.to_bytes(4096)
    assert len(raw) == 4096
    # struct tdx_quote_buf: u64 version @0, u64 status @8, u32 in_len @16, u32 out_len @20, data @24
    assert struct.unpack_from("<QQII", raw) == (1, (1 << 64) - 1, 1024, 7)
    assert raw[24:27] == b"xyz" and raw[27:] == bytes(4096 - 27)


def test_request_then_completion_as_the_vmm_writes_it() -> None:
    report = bytes(range(256)) * 4
    qb = ghci.QuoteBuffer.request(report)
    assert (qb.version, qb.status, qb.in_len, qb.out_len) == (1, 0, 1024, 0)
    assert qb.message() == report
    done = qb.completed(ghci.GET_QUOTE_SUCCESS, b"Q" * 10)
    assert done.quote() == b"Q" * 10 and done.out_len == 10 and not done.in_flight
    failed = qb.completed(ghci.GET_QUOTE_ERROR)
    assert failed.status == ghci.GET_QUOTE_ERROR and failed.out_len == 0


@pytest.mark.parametrize(
    ("quote", "words"),
    [
        (5, r"quote = 5 .*expected bytes"),  # issue 15: a 5-byte zero quote before
        ([1, 2], r"quote = \[1, 2\] .*expected bytes"),  # issue 15: a list was accepted
        (b"Q" * 1025, r"quote length = 1025 .*<= 1024 bytes"),  # issue 15: the buffer silently grew
    ],
)
def test_a_completion_takes_bytes_that_fit_the_buffer(quote: object, words: str) -> None:
    qb = ghci.QuoteBuffer.request(bytes(1024))
    with pytest.raises(ValidationError, match=words):
        qb.completed(ghci.GET_QUOTE_SUCCESS, quote)  # type: ignore[arg-type]
    assert len(qb.completed(ghci.GET_QUOTE_SUCCESS, b"Q" * 1024).to_bytes()) == 24 + 1024


def test_fields_are_typed_not_coerced() -> None:
    with pytest.raises(ValidationError, match="data = 'text'"):
        ghci.QuoteBuffer(data="text")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"version = 1\.0"):
        ghci.QuoteBuffer(version=1.0)  # type: ignore[arg-type]
    assert ghci.QuoteBuffer(data=bytearray(b"ab")).data == b"ab"


def test_short_buffer_names_its_size() -> None:
    with pytest.raises(ValidationError, match=r"length = 23 .*>= 24"):
        ghci.QuoteBuffer.from_bytes(bytes(23))
    with pytest.raises(ValidationError):
        ghci.QuoteBuffer.from_bytes("not bytes")  # type: ignore[arg-type]


def test_to_bytes_refuses_a_size_that_cuts_the_data() -> None:
    qb = ghci.QuoteBuffer.request(bytes(1024))
    with pytest.raises(ValidationError, match=r">= 1048"):
        qb.to_bytes(1000)


def test_field_ranges_are_checked() -> None:
    with pytest.raises(ValidationError, match="in_len"):
        ghci.QuoteBuffer(in_len=1 << 32)
    with pytest.raises(ValidationError, match="status"):
        ghci.QuoteBuffer(status=-1)
    with pytest.raises(ValidationError, match="out_len"):
        ghci.QuoteBuffer(out_len=5, data=b"ab").quote()


headers = st.builds(
    ghci.QuoteBuffer,
    version=st.integers(0, (1 << 64) - 1),
    status=st.integers(0, (1 << 64) - 1),
    in_len=st.integers(0, (1 << 32) - 1),
    out_len=st.integers(0, (1 << 32) - 1),
    data=st.binary(max_size=512),
)


@settings(max_examples=300, deadline=None)
@given(headers)
def test_any_valid_header_and_data_round_trip(qb: ghci.QuoteBuffer) -> None:
    assert ghci.QuoteBuffer.from_bytes(qb.to_bytes()) == qb


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_decodes_or_raises_a_tdxlib_error(raw: bytes) -> None:
    try:
        qb = ghci.QuoteBuffer.from_bytes(raw)
    except TdxlibError:
        assert len(raw) < 24
        return
    assert qb.to_bytes(len(raw)) == raw
