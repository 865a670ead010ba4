"""tdxlib.ingest.irqlines: the text after an IRQ row's counts in each kernel generation, and the cached
row of zero cells (read-only, cleared by ``tdxlib.cache.clear_all``). Expected values are by hand."""

from __future__ import annotations

import pytest

from tdxlib import cache
from tdxlib.errors import CaptureParseError
from tdxlib.ingest.irqlines import _actions, _parse_trailer, _zero_row


@pytest.mark.parametrize(
    ("trailer", "expected"),
    [
        # 6.x: chip, hwirq, "-" flow, actions
        (
            "  IR-PCI-MSI-0000:00:17.0    0-edge      ahci[0000:00:17.0]",
            ("IR-PCI-MSI-0000:00:17.0", 0, "edge"),
        ),
        # an IRQ without a domain: blanks instead of the hwirq
        ("  IO-APIC     -fasteoi   acpi", ("IO-APIC", None, "fasteoi")),
        # 3.x: chip and flow glued, no hwirq column
        ("   IO-APIC-edge      timer", ("IO-APIC", None, "edge")),
        # a hwirq but no flow name
        ("   dummy  3  xen-pirq", ("dummy", 3, None)),
    ],
)
def test_trailer_of_each_generation(trailer: str, expected: tuple[object, ...]) -> None:
    chip, hwirq, flow, rest = _parse_trailer(trailer, 9, "interrupts", 4)
    assert (chip, hwirq, flow) == expected
    assert rest.strip() == trailer.split()[-1]


def test_actions_are_split_on_comma_space() -> None:
    assert _actions("  PCIe PME, aerdrv  ") == ("PCIe PME", "aerdrv")
    assert _actions("   ") == ()


@pytest.mark.parametrize(
    ("trailer", "words"),
    [
        ("", "no chip name after the counts"),
        ("  GICv3  27 Level     arch_timer", "not an x86 interrupt controller"),
        ("  foo  27 Level     arch_timer", "a Level/Edge column"),
    ],
)
def test_foreign_or_truncated_trailers_name_irq_and_line(trailer: str, words: str) -> None:
    with pytest.raises(CaptureParseError, match=words) as exc:
        _parse_trailer(trailer, 9, "interrupts", 4)
    assert exc.value.line == 4 and "IRQ 9" in exc.value.message


def test_the_cached_zero_row_is_read_only_and_cleared_with_the_rest() -> None:
    data, flat = _zero_row(3)
    assert data == b"          0" * 3 and flat.tolist() == list(data)
    assert not flat.flags.writeable
    with pytest.raises(ValueError):
        flat[0] = 1
    assert _zero_row(3)[1] is flat  # cached
    cache.clear_all()
    assert _zero_row(3)[1] is not flat
