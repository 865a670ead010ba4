"""tdxlib.ingest.kernel_layout: the shipped layout for a captured kernel release."""

from __future__ import annotations

from tdxlib.ingest.kernel_layout import layout_for_kernel


def test_layout_for_kernel() -> None:
    assert layout_for_kernel("6.18.44-fc")[0] == "linux-6.12"
    assert layout_for_kernel("6.8.0-40-generic")[0] == "linux-6.6"
    assert layout_for_kernel("5.19.0")[0] == "linux-5.19"
    assert layout_for_kernel("4.19.0")[0] == "linux-5.19"
    assert "unknown" in layout_for_kernel(None)[1]
