"""tdxlib.tdx.vmm.profile: VMM profiles as data, their errors, latency models, and reading them again."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import tdxlib.data
from tdxlib import cache
from tdxlib.data import data_path
from tdxlib.errors import DataError, ValidationError
from tdxlib.tdx.vmm import LatencyModel, load_profile, profile_from_mapping, profile_names

REQUIRED = {
    "ghci-1.0",
    "ghci-1.5-caller",
    "qemu-10.1",
    "kvm-6.16",
    "never-injects",
    "random-vcpu",
    "bsp-only",
}


# --- shipped profiles ----------------------------------------------------------------------------------


def test_the_required_profiles_ship_and_load() -> None:
    assert set(profile_names()) >= REQUIRED
    for name in profile_names():
        p = load_profile(name)
        assert p.name == name  # file stem == name
        assert p.source and p.title and p.models and p.notes
        assert p.service_latency_ms.assumption  # every latency says where it comes from


def test_qemu_profile_is_what_we_read() -> None:
    q = load_profile("qemu-10.1")
    assert (q.target, q.inject, q.max_in_flight, q.service_timeout_ms) == (
        "setup-caller",
        "must",
        16,
        30000.0,
    )
    assert q.get_quote_checks == "qemu" and not q.leak_guard
    assert load_profile("ghci-1.0").target == "any" and load_profile("ghci-1.0").inject == "can"
    assert load_profile("kvm-6.16").inject == "never"


def test_load_by_path_and_unknown_names(tmp_path: Path) -> None:
    src = data_path("vmm", "bsp-only.yaml")
    dst = tmp_path / "mine.yaml"
    dst.write_text(src.read_text())
    assert load_profile(str(dst)) == load_profile("bsp-only")
    with pytest.raises(ValidationError, match=r"qemu-10\.1"):
        load_profile("qemu-9")
    with pytest.raises(DataError, match="not found"):
        load_profile(str(tmp_path / "missing.yaml"))


# --- a profile edited or added in a running session is read again ----------------------------------------


@pytest.fixture
def vmm_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """data/vmm as a copy the test may edit, in effect for this test only."""
    data = tmp_path / "data"
    shutil.copytree(data_path("vmm"), data / "vmm")
    monkeypatch.setattr(tdxlib.data, "DATA_DIR", data)
    yield data / "vmm"
    monkeypatch.undo()
    cache.clear_all()


def _retitle(path: Path, title: str) -> None:
    text = path.read_text()
    old = next(line for line in text.splitlines() if line.startswith("title:"))
    path.write_text(text.replace(old, f"title: {title}", 1))


def test_an_edited_profile_is_read_again(vmm_dir: Path, tmp_path: Path) -> None:
    shipped = vmm_dir / "qemu-10.1.yaml"
    mine = tmp_path / "mine.yaml"
    shutil.copy(shipped, mine)
    before = load_profile("qemu-10.1")
    assert load_profile(str(mine)) == before
    assert load_profile("qemu-10.1") is before  # an unchanged file is read once
    _retitle(shipped, "QEMU as edited during the session")
    _retitle(mine, "my own VMM, second draft")
    assert load_profile("qemu-10.1").title == "QEMU as edited during the session"
    assert load_profile(str(mine)).title == "my own VMM, second draft"
    assert before.title != load_profile("qemu-10.1").title  # what a caller already holds is not changed


def test_a_profile_added_or_removed_in_a_session_is_listed(vmm_dir: Path) -> None:
    assert "bsp-only-too" not in profile_names()
    text = (vmm_dir / "bsp-only.yaml").read_text().replace("name: bsp-only", "name: bsp-only-too")
    (vmm_dir / "bsp-only-too.yaml").write_text(text)
    assert "bsp-only-too" in profile_names()
    assert load_profile("bsp-only-too").name == "bsp-only-too"
    (vmm_dir / "bsp-only-too.yaml").unlink()
    assert "bsp-only-too" not in profile_names()
    with pytest.raises(ValidationError, match="bsp-only-too"):
        load_profile("bsp-only-too")


def test_callers_share_no_mutable_profile_state() -> None:
    names = profile_names()
    names.append("mine")
    assert "mine" not in profile_names()
    q = load_profile("qemu-10.1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.title = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.service_latency_ms.median_ms = 1.0  # type: ignore[misc]


# --- profile errors name file, line and field ----------------------------------------------------------


def _broken(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """qemu-10.1.yaml with ``old`` replaced by ``new``; returns the file and the line of new's last line."""
    text = data_path("vmm", "qemu-10.1.yaml").read_text()
    assert old in text
    text = text.replace(old, new, 1)
    p = tmp_path / "broken.yaml"
    p.write_text(text)
    marker = new.splitlines()[-1]
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s == marker)
    return p, line


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("failure_rate: 0.0", "failure_rate: 0.0\nretries: 3", "retries"),  # unknown field
        ("validates_vector: true", 'validates_vector: "yes"', "validates_vector"),  # wrong type
        ("failure_rate: 0.0", "failure_rate: 1.5", "failure_rate"),  # out of range
        ("max_in_flight: 16", "max_in_flight: 0", "max_in_flight"),
        ("target: setup-caller", "target: any-cpu", "target"),
        ("inject_probability: 1.0", "inject_probability: 0.5", "inject_probability"),  # must => 1.0
        ("  median_ms: 300", "  median_ms: -3", "service_latency_ms.median_ms"),
        ("  sigma: 0.5", "  sigma: 0.5\n  p99_ms: 900", "service_latency_ms.p99_ms"),
    ],
)
def test_profile_errors_name_file_line_and_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    p, line = _broken(tmp_path, old, new)
    with pytest.raises(DataError) as exc:
        load_profile(str(p))
    err = exc.value
    assert err.path == p and err.line == line, str(err)
    assert err.field == field and f":{line}: {field}: " in str(err) and "broken.yaml" in str(err)


def test_missing_field_and_non_mapping() -> None:
    complete = dict(load_profile("bsp-only").__dict__)
    del complete["target"]
    with pytest.raises(DataError, match=r"x\.yaml: target: missing"):
        profile_from_mapping(complete, "x.yaml")
    with pytest.raises(DataError, match="mapping"):
        profile_from_mapping(["a"], "x.yaml")


def test_python_construction_is_validated_too() -> None:
    q = load_profile("qemu-10.1")
    with pytest.raises(ValidationError, match="failure_rate"):
        dataclasses.replace(q, failure_rate=1.5)
    with pytest.raises(ValidationError, match="inject_probability"):
        dataclasses.replace(q, inject="never")
    slow = q.with_service_ms(1500)
    assert slow.service_latency_ms.kind == "fixed" and slow.service_latency_ms.mean == 1500.0


# --- latency models ------------------------------------------------------------------------------------


def test_latency_models_sample_their_distribution() -> None:
    rng = np.random.default_rng(1)
    n = 20000
    logn = LatencyModel(kind="lognormal", median_ms=300, sigma=0.5)
    assert abs(np.median(logn.sample_many(rng, n)) / 300 - 1) < 0.03
    expo = LatencyModel(kind="exponential", mean_ms=200)
    assert abs(expo.sample_many(rng, n).mean() / expo.mean - 1) < 0.03
    uni = LatencyModel(kind="uniform", low_ms=100, high_ms=200).sample_many(rng, n)
    assert uni.min() >= 100 and uni.max() <= 200
    assert LatencyModel.fixed(42).sample(rng) == 42.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "gamma", "ms": 1},
        {"kind": "fixed"},
        {"kind": "fixed", "ms": 1, "sigma": 1},
        {"kind": "uniform", "low_ms": 5, "high_ms": 1},
        {"kind": "exponential", "mean_ms": 0},
        {"kind": "fixed", "ms": float("nan")},
    ],
)
def test_bad_latency_models(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LatencyModel(**kwargs)  # type: ignore[arg-type]
