"""A host VMM that answers the guest's TDVMCALLs as a *profile* (data/vmm/*.yaml) says.

A profile (:mod:`~tdxlib.tdx.vmm.profile`) states what the VMM validates, whether it injects the
event-notify vector at all (``must``/``can``/``never``), into which vCPU (the GHCI text as written,
QEMU's "caller of SetupEventNotifyInterrupt, recorded at call time", the BSP, a random vCPU, ...), what
happens when that vCPU is offline, and how long the quote service takes. :class:`Vmm`
(:mod:`~tdxlib.tdx.vmm.host`) keeps the registration and the requests in flight; the simulator
(``tdxlib.sim``) asks it for statuses, service times, outcomes and notifications. The
offline-at-injection rule (``offline_target``) is applied by the simulator.
"""

from __future__ import annotations

from tdxlib.tdx.vmm.host import Service, Vmm
from tdxlib.tdx.vmm.profile import (
    Inject,
    LatencyKind,
    LatencyModel,
    OfflineTarget,
    Target,
    VmmProfile,
    is_shipped,
    load_profile,
    profile_from_mapping,
    profile_names,
)

__all__ = [
    "Inject",
    "LatencyKind",
    "LatencyModel",
    "OfflineTarget",
    "Service",
    "Target",
    "Vmm",
    "VmmProfile",
    "is_shipped",
    "load_profile",
    "profile_from_mapping",
    "profile_names",
]
