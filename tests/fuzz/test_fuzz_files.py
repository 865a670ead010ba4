"""Fuzzing every file tdxlib reads: random bytes, random YAML trees (huge and nested values) and random
mutations of the shipped files, through each kind's model and each loader: only TdxlibError comes out."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fuzzing import FUZZ, dump, fresh, mutate, only_tdxlib_errors, plain, trees
from hypothesis import given
from hypothesis import strategies as st
from paths import FIXTURES, ROOT

from tdxlib import models
from tdxlib.argument.claims import load_claims
from tdxlib.argument.proposals import check_proposal
from tdxlib.cli.schema import KINDS, Kind
from tdxlib.data import data_path, load_yaml
from tdxlib.ingest import load_capture
from tdxlib.kernel.profile import load_kernel
from tdxlib.kernel.vectors import load_layout
from tdxlib.report.config import load_config
from tdxlib.sim import load_scenario
from tdxlib.sweeps.spec import load_spec
from tdxlib.tdx.ghci import load_facts
from tdxlib.tdx.vmm import load_profile


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-files")


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
@FUZZ
@given(tree=trees)
def test_every_file_model_takes_any_yaml_tree(folder: Path, kind: Kind, tree: Any) -> None:
    path = fresh(folder)
    path.write_text(dump(tree))
    model = kind.load_model()
    only_tdxlib_errors(lambda: models.load(model, path))


@FUZZ
@given(raw=st.binary(max_size=3000) | st.text(max_size=3000).map(str.encode))
def test_any_bytes_are_read_or_refused(folder: Path, raw: bytes) -> None:
    path = fresh(folder)
    path.write_bytes(raw)
    for load in (load_scenario, load_profile, load_claims, check_proposal, lambda p: load_layout(str(p))):
        only_tdxlib_errors(lambda load=load: load(path))  # type: ignore[misc]


# --- mutations of the shipped files, through the real loaders --------------------------------------------


def _shipped(*parts: str) -> Any:
    return plain(load_yaml(data_path(*parts)))


def _write_doc(folder: Path, doc: Any, name: str) -> Path:
    """``doc`` as YAML in a new folder of its own, under ``name`` (a loader may check the file name)."""
    sub = fresh(folder, suffix="", stem="d")
    sub.mkdir()
    path = sub / name
    path.write_text(dump(doc))
    return path


SCENARIO = {
    "cpus": 4,
    "apic_ids": [0, 2, 4, 6],
    "strategy": {
        "name": "dynamic",
        "apic_targeting": True,
        "fallback": {"name": "polling", "interval_ms": 5},
    },
    "vmm": "qemu-10.1",
    "hotplug": [[1.0, 2, "offline"], {"time_s": 2.0, "cpu": 2, "action": "online"}],
    "hotplug_cpus": [1, 3],
    "quotes": 3,
    "hz": 1000,
}


def _capture(folder: Path, doc: Any) -> object:
    cap = fresh(folder, suffix="", stem="cap")
    shutil.copytree(data_path("captures", "sandbox-vm-2cpu-6.18"), cap)
    (cap / "manifest.yaml").write_text(dump(doc))
    loaded = load_capture(cap)
    return loaded.ncpus, loaded.kernel_release, loaded.config, loaded.load()


def _facts(folder: Path, name: str, doc: Any) -> object:
    d = fresh(folder, suffix="", stem="ghci")
    shutil.copytree(data_path("ghci"), d)
    (d / name).write_text(dump(doc))
    return load_facts(d)


def _reports(folder: Path, doc: Any) -> object:
    nb = fresh(folder, suffix="", stem="project") / "notebooks"
    nb.mkdir(parents=True)
    for f in (*FIXTURES.glob("*.ipynb"), *(ROOT / "notebooks").glob("*.ipynb")):
        (nb / f.name).symlink_to(f)
    (nb / "reports.yaml").write_text(dump(doc))
    return load_config(nb / "reports.yaml")


#: (name, the valid document, what to do with a mutated one)
CASES: list[tuple[str, Callable[[], Any], Callable[[Path, Any], object]]] = [
    ("scenario", lambda: plain(SCENARIO), lambda f, d: load_scenario(_write_doc(f, d, "s.yaml"))),
    (
        "vmm-profile",
        lambda: _shipped("vmm", "qemu-10.1.yaml"),
        lambda f, d: load_profile(str(_write_doc(f, d, "p.yaml"))),
    ),
    (
        "vector-layout",
        lambda: _shipped("vectors", "linux-6.12.yaml"),
        lambda f, d: load_layout(str(_write_doc(f, d, "linux-6.12.yaml"))).describe(),
    ),
    (
        "claims",
        lambda: _shipped("claims", "claims.yaml"),
        lambda f, d: load_claims(_write_doc(f, d, "c.yaml")),
    ),
    (
        "kernel-profile",
        lambda: _shipped("kernels", "linux-6.12.yaml"),
        lambda f, d: load_kernel(str(_write_doc(f, d, "linux-6.12.yaml"))).guest(),
    ),
    (
        "proposal",
        lambda: _shipped("proposals", "caller-vcpu.yaml"),
        lambda f, d: check_proposal(_write_doc(f, d, "x.yaml")),
    ),
    ("capture-manifest", lambda: _shipped("captures", "sandbox-vm-2cpu-6.18", "manifest.yaml"), _capture),
    ("reports", lambda: plain(load_yaml(ROOT / "notebooks" / "reports.yaml")), _reports),
    (
        "sweep",
        lambda: _shipped("sweeps", "quick.yaml"),
        lambda f, d: load_spec(_write_doc(f, d, "s.yaml")).cells,
    ),
    *[
        (
            f"ghci-{name}",
            lambda name=name: _shipped("ghci", f"{name}.yaml"),
            lambda f, d, name=name: _facts(f, f"{name}.yaml", d),
        )
        for name in ("sources", "leaves", "status", "get_quote")
    ],
]


@pytest.mark.parametrize(("name", "valid", "load"), CASES, ids=[c[0] for c in CASES])
@FUZZ
@given(data=st.data())
def test_a_mutated_shipped_file_is_loaded_or_refused(
    folder: Path,
    name: str,
    valid: Callable[[], Any],
    load: Callable[[Path, Any], object],
    data: st.DataObject,
) -> None:
    doc = mutate(data, valid())
    only_tdxlib_errors(lambda: load(folder, doc))


@pytest.mark.parametrize(("name", "valid", "load"), CASES, ids=[c[0] for c in CASES])
def test_the_unmutated_documents_load(
    folder: Path, name: str, valid: Callable[[], Any], load: Callable[[Path, Any], object]
) -> None:
    """The fuzz tests start from documents that are valid: a mutation is what makes them bad."""
    load(folder, valid())
