"""Which vector layout a captured kernel runs: the shipped layout for its release, switches from its config.

A capture names its kernel (``uname -r``) and, when readable, its ``CONFIG_*`` values; the arch rows of
its ``/proc/interrupts`` tell run-time facts (a HYP row: a hypervisor callback vector). This module
turns those into a layout name and switch overrides for :func:`~tdxlib.kernel.vectors.load_layout`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from tdxlib.errors import DataError
from tdxlib.kernel.vectors.layout import VectorLayout, layout_names, layout_switches, load_layout


def as_layout(layout: VectorLayout | str) -> VectorLayout:
    """``layout`` itself, or the shipped layout of that name (or YAML path) with its defaults."""
    if isinstance(layout, VectorLayout):
        return layout
    return load_layout(layout)


def _version_tuple(text: str) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else ()


def layout_for_kernel(release: str | None) -> tuple[str, str]:
    """The shipped plain layout closest below kernel ``release`` (e.g. ``"6.18.44-fc"``) and why."""
    plain = []
    for name in layout_names():
        if re.fullmatch(r"linux-\d+\.\d+", name):
            plain.append((_version_tuple(load_layout(name).kernel), name))
    plain.sort()
    if not plain:
        raise DataError("no plain linux-X.Y layout under data/vectors")
    want = _version_tuple(release or "")
    if not want:
        return plain[-1][1], f"kernel version unknown: took the newest layout {plain[-1][1]}"
    below = [p for p in plain if p[0] <= want]
    if not below:
        return plain[0][1], f"kernel {release} is older than every layout: took {plain[0][1]}"
    return below[-1][1], f"kernel {release}: took {below[-1][1]}, the newest shipped layout not newer than it"


def layout_config_from_kernel_config(
    layout: str, config: Mapping[str, str] | None, arch_rows: Iterable[str] = ()
) -> tuple[dict[str, bool], list[str]]:
    """Layout switch overrides read from a captured ``CONFIG_*`` map and the arch rows present.

    A kconfig switch ``X`` is True when ``CONFIG_X`` is ``y`` or ``m``, False when unset; the HYP row
    of /proc/interrupts (printed only when HYPERVISOR_CALLBACK_VECTOR is in system_vectors) sets the
    run-time HYPERVISOR_CALLBACK switch, HRE/HVS rows set HYPERV_GUEST.
    """
    sw = layout_switches(layout)
    out: dict[str, bool] = {}
    notes: list[str] = []
    if config:
        for key, s in sw.items():
            if s.kind != "kconfig":
                continue
            v = config.get(f"CONFIG_{key}")
            out[key] = v in ("y", "m")
        notes.append(
            "layout switches from the captured kernel config: "
            + ", ".join(f"{k}={'y' if v else 'n'}" for k, v in out.items())
        )
    rows = set(arch_rows)
    if "HYPERVISOR_CALLBACK" in sw and "HYP" in rows:
        out["HYPERVISOR_CALLBACK"] = True
        notes.append("HYP row present: HYPERVISOR_CALLBACK_VECTOR is a system vector (run-time switch on)")
    if "HYPERV_GUEST" in sw and rows & {"HRE", "HVS"}:
        out["HYPERV_GUEST"] = True
        notes.append("HRE/HVS rows present: booted on Hyper-V (run-time switch on)")
    return out, notes
