"""Kernel profiles the tests share.

``V8_OFFLINING`` is the guest every hotplug test before kernel profiles simulated: the v8 patch's vector
layout, HZ 250 and msleep's extra jiffy - on a kernel that can take a CPU offline (6.11+, a version-1
MADT wakeup mailbox). No real kernel is all of that (5.19 + v8 cannot offline CPUs in a TD), so it is
spelled as the ``linux-6.12`` profile with explicit overrides, and every hotplug test that keeps its
numbers says so.
"""

from __future__ import annotations

from typing import Any

V8_OFFLINING: dict[str, Any] = {"kernel": "linux-6.12", "layout": "linux-5.19-tdx-v8", "extra_jiffy": True}
