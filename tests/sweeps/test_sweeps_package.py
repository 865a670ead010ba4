"""tdxlib.sweeps as a package: its public names resolve, and importing it (or the index's light
module) loads neither dask nor pyarrow nor the simulator."""

from __future__ import annotations

import subprocess
import sys

import tdxlib.sweeps as sweeps


def test_every_public_name_resolves() -> None:
    for name in sweeps.__all__:
        assert getattr(sweeps, name) is not None, name
    assert sweeps.run_sweep.__module__ == "tdxlib.sweeps.engine"


def test_the_package_and_the_holds_in_names_are_light() -> None:
    heavy = ("distributed", "dask", "pyarrow", "pandas", "tdxlib.sim")
    code = (
        "import sys, tdxlib.sweeps, tdxlib.sweeps.holds, tdxlib.report.index; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
