"""A guest kernel *profile*: the facts of one kernel a TD guest runs, each with its source.

"For which kernel?" is the first question a reviewer asks of a verdict. A profile
(``data/kernels/NAME.yaml``, format in that folder's README) answers it in one place: the vector
layout and its config switches, HZ, whether ``msleep()`` adds the historical jiffy, FRED, whether a
TD can take a CPU offline (and what it needs for that), posted MSI, and the in-kernel GetQuote
driver. Every fact names its sources (keys of ``data/kernels/sources.yaml``) and says whether it
was read in them (``verified``), follows from them (``inferred``) or is an assumption
(``unverified``, with a note saying what was tried).

:func:`load_kernel` reads a profile (remembered per file state, so an edited file is read again);
:meth:`KernelProfile.guest` resolves it, with the ``layout``/``hz``/``extra_jiffy`` overrides, into
the :class:`GuestKernel` the simulator boots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import pydantic

from tdxlib import models
from tdxlib.cache import glob_key, memo, stat_key
from tdxlib.data import data_path, is_file, load_yaml
from tdxlib.errors import DataError, ValidationError
from tdxlib.kernel.jiffies import COMMON_HZ
from tdxlib.kernel.vectors import layout_names, layout_switches
from tdxlib.values import Str, Text

__all__ = [
    "DEFAULT_KERNEL",
    "HOTPLUG_KERNEL",
    "POLLING_KERNEL",
    "CpuOffline",
    "GuestKernel",
    "KernelProfile",
    "KernelSources",
    "Offlining",
    "kernel_names",
    "kernel_sources",
    "load_kernel",
    "story_kernels",
    "version_key",
]

#: The kernel of the 2022 thread: v5.19 with the v8 patch (the simulator's default guest).
DEFAULT_KERNEL = "linux-5.19-tdx-v8"
#: The kernel hotplug checks read their evidence on: the first LTS whose TDs can offline CPUs (6.11+,
#: a version-1 MADT wakeup mailbox). On 5.19 + v8 no CPU can go offline at all.
HOTPLUG_KERNEL = "linux-6.12"
#: The kernel polling checks read their evidence on: the LTS before the 6.7 poller was merged, with its
#: timer (HZ 250, msleep + 1 jiffy).
POLLING_KERNEL = "linux-6.6"

_DIR = "kernels"
_SOURCES_FILE = "sources.yaml"

Status = Literal["verified", "inferred", "unverified"]
T = TypeVar("T")


def _keys(value: object) -> object:
    """A source given as one key or a list of keys, as a tuple."""
    return (value,) if isinstance(value, str) else value


SourceKeys = tuple[str, ...]


class Fact(models.Model, Generic[T]):
    """One fact: its value, how sure we are (``status``), its ``source`` keys and a note.

    A fact that is not ``verified`` must say why in ``note`` (what it follows from, or what was tried).
    """

    value: T
    status: Status
    source: SourceKeys = pydantic.Field(min_length=1)
    note: str = ""

    @pydantic.field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return _keys(v)

    @pydantic.model_validator(mode="after")
    def _note_when_unsure(self) -> Fact[T]:
        if self.status != "verified" and not self.note.strip():
            raise ValueError(f"a {self.status} fact needs a note saying what it rests on")
        return self


class LayoutFact(Fact[str]):
    """The vector layout (a ``data/vectors`` name) and the layout switches this kernel's build sets."""

    config: dict[str, bool] = pydantic.Field(default_factory=dict)

    def __hash__(self) -> int:  # config is a dict: hash its items
        return hash((self.value, tuple(sorted(self.config.items())), self.status, self.source))


class Fred(models.Model):
    """FRED: built in (CONFIG_X86_FRED), on by default at run time, and whether it is on in the TD."""

    built: Fact[bool]
    runtime_default: Fact[bool]
    active: Fact[bool]


class CpuOffline(Fact[Literal["never", "mailbox-v1"]]):
    """Whether a TD can take a CPU offline: ``never`` (CC_ATTR_HOTPLUG_DISABLED, 5.19..6.10) or only with
    an ACPI MADT multiprocessor-wakeup mailbox of version 1 with a reset vector (6.11+), ``since`` that
    kernel version."""

    since: str | None = None
    reason: str = pydantic.Field(min_length=1)


class QuoteDriver(Fact[Literal["none", "event-notify-v8", "polling"]]):
    """The in-kernel GetQuote driver: none, the v8 ioctl driver waiting for the notify interrupt, or the
    merged configfs-tsm poller with its buffer size, timeout and poll interval."""

    buf_size: int | None = pydantic.Field(default=None, ge=4096)
    timeout_s: float | None = pydantic.Field(default=None, gt=0)
    poll_ms: int | None = pydantic.Field(default=None, ge=1)
    error_status_is_error: bool | None = None

    @pydantic.model_validator(mode="after")
    def _constants_of_a_poller(self) -> QuoteDriver:
        polls = self.value == "polling"
        given = [self.buf_size, self.timeout_s, self.poll_ms, self.error_status_is_error]
        if polls and any(v is None for v in given):
            raise ValueError("a polling driver gives buf_size, timeout_s, poll_ms and error_status_is_error")
        if not polls and self.poll_ms is not None:
            raise ValueError(f"a {self.value} driver does not poll (poll_ms must be absent)")
        return self


class KernelProfile(models.Model):
    """One guest kernel: a tree as released or a distribution's build, every fact with its source."""

    name: str = pydantic.Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    title: str = pydantic.Field(min_length=1)
    kind: Literal["tree", "distribution"]
    version: str = pydantic.Field(min_length=1, description="the upstream base version, e.g. 6.12")
    summary: str = pydantic.Field(min_length=1)
    layout: LayoutFact
    hz: Fact[int]
    msleep_extra_jiffy: Fact[bool]
    fred: Fred
    cpu_offline: CpuOffline
    posted_msi: Fact[bool]
    posted_intr_defined: Fact[Literal["CONFIG_HAVE_KVM", "always"]]
    quote_driver: QuoteDriver

    @pydantic.field_validator("hz")
    @classmethod
    def _kconfig_hz(cls, hz: Fact[int]) -> Fact[int]:
        if hz.value not in COMMON_HZ:
            raise ValueError(f"HZ {hz.value} is not a Kconfig choice ({', '.join(map(str, COMMON_HZ))})")
        return hz

    # -- what the simulator needs -----------------------------------------------------------------
    def layout_config(self, layout: str | None = None) -> dict[str, bool]:
        """The switches of ``layout`` (default: this kernel's) that this kernel's build decides: its
        ``layout.config`` and FRED (``X86_FRED``, ``FRED_ACTIVE``), where that layout has them."""
        name = layout or self.layout.value
        known = layout_switches(name)
        wanted = {
            **self.layout.config,
            "X86_FRED": self.fred.built.value,
            "FRED_ACTIVE": self.fred.built.value and self.fred.active.value,
        }
        return {k: v for k, v in wanted.items() if k in known}

    @property
    def offlining(self) -> Offlining:
        """Whether this kernel lets a TD take a CPU offline, and the kernel's reason when not."""
        allowed = self.cpu_offline.value != "never"
        return Offlining(self.name, allowed, "" if allowed else self.cpu_offline.reason)

    def guest(
        self, *, layout: str | None = None, hz: int | None = None, extra_jiffy: bool | None = None
    ) -> GuestKernel:
        """This kernel as the simulator boots it; ``layout``, ``hz``, ``extra_jiffy`` override facts."""
        return _guest_of(self, layout, hz, extra_jiffy)

    def facts(self) -> dict[str, Fact[Any]]:
        """Every fact by its dotted name (``fred.active``), in file order."""
        out: dict[str, Fact[Any]] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Fact):
                out[name] = value
            elif isinstance(value, Fred):
                out |= {f"{name}.{k}": getattr(value, k) for k in type(value).model_fields}
        return out


@dataclass(frozen=True)
class Offlining:
    """A kernel's answer to "may this TD take a CPU offline?"; ``reason`` says why not."""

    kernel: str
    allowed: bool
    reason: str = ""


@dataclass(frozen=True)
class GuestKernel:
    """A profile resolved for one run: the layout and its switches, HZ, msleep, offlining."""

    name: str
    layout: str
    layout_config: tuple[tuple[str, bool], ...]
    hz: int
    extra_jiffy: bool
    offlining: Offlining
    overrides: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for headers and tables: ``linux-6.12 (layout linux-6.12, HZ 250, msleep exact, ...)``."""
        jiffy = "msleep +1 jiffy" if self.extra_jiffy else "msleep without the extra jiffy"
        offline = "can offline CPUs" if self.offlining.allowed else "cannot offline CPUs"
        over = f"; overridden: {', '.join(self.overrides)}" if self.overrides else ""
        return f"{self.name} (layout {self.layout}, HZ {self.hz}, {jiffy}, {offline}{over})"


@memo(maxsize=256)
def _guest_of(
    profile: KernelProfile, layout: str | None, hz: int | None, extra_jiffy: bool | None
) -> GuestKernel:
    """The resolved kernel (cached: profiles are frozen and hashable)."""
    if layout is not None and layout not in layout_names() and not layout.endswith((".yaml", ".yml")):
        raise ValidationError("layout", layout, f"one of {', '.join(layout_names())} or a .yaml path")
    if hz is not None and (isinstance(hz, bool) or not isinstance(hz, int) or not 1 <= hz <= 1000):
        raise ValidationError("hz", hz, "a kernel HZ: 100, 250, 300 or 1000 (any integer 1..1000)")
    if extra_jiffy is not None and not isinstance(extra_jiffy, bool):
        raise ValidationError("extra_jiffy", extra_jiffy, "true or false (None: the kernel's)")
    given = {"layout": layout, "hz": hz, "extra_jiffy": extra_jiffy}
    return GuestKernel(
        name=profile.name,
        layout=layout or profile.layout.value,
        layout_config=tuple(sorted(profile.layout_config(layout).items())),
        hz=profile.hz.value if hz is None else hz,
        extra_jiffy=profile.msleep_extra_jiffy.value if extra_jiffy is None else extra_jiffy,
        offlining=profile.offlining,
        overrides=tuple(f"{k}={v}" for k, v in given.items() if v is not None),
    )


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def kernel_names() -> list[str]:
    """Names of the shipped profiles (``data/kernels/*.yaml`` but the sources file), sorted."""
    return list(_names(glob_key(data_path(_DIR))))


@memo(maxsize=4)
def _names(stamp: tuple[tuple[str, int, int], ...]) -> tuple[str, ...]:
    return tuple(sorted(Path(p).stem for p, _s, _m in stamp[1:] if Path(p).name != _SOURCES_FILE))


def version_key(version: str) -> tuple[int, ...]:
    """``"6.12"`` -> ``(6, 12)``: kernel versions in release order."""
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def story_kernels() -> list[str]:
    """The ``tree`` profiles (the kernels of the story, from the 2022 thread to mainline), oldest first:
    the eras every claim is checked against."""
    trees = [k for k in map(load_kernel, kernel_names()) if k.kind == "tree"]
    return [k.name for k in sorted(trees, key=lambda k: version_key(k.version))]


def kernel_sources() -> Mapping[str, str]:
    """The source keys profiles cite (``data/kernels/sources.yaml``), each with what was read."""
    path = data_path(_DIR, _SOURCES_FILE)
    return _sources_of(str(path), stat_key(path))


class KernelSources(models.Model):
    """``data/kernels/sources.yaml``: every text the profiles cite, by key."""

    sources: dict[Str, Text]


@memo(maxsize=4)
def _sources_of(path: str, stamp: tuple[tuple[str, int, int], ...]) -> Mapping[str, str]:
    del stamp  # part of the cache key only
    doc = models.validate(KernelSources, load_yaml(path), Path(path), what="a kernel sources file")
    return dict(doc.sources)


def _path_of(name: str) -> Path:
    if not isinstance(name, str) or not name:
        raise ValidationError("kernel", name, f"one of {', '.join(kernel_names())} or a .yaml path")
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return Path(name).resolve()
    path = data_path(_DIR, f"{name}.yaml")
    if name == Path(_SOURCES_FILE).stem or not is_file(path):
        raise ValidationError("kernel", name, f"one of {', '.join(kernel_names())} or a .yaml path")
    return path


def load_kernel(name: str | KernelProfile) -> KernelProfile:
    """A kernel profile by name (``"linux-6.12"``) or path; an unknown name lists the known ones."""
    if isinstance(name, KernelProfile):
        return name
    path = _path_of(name)
    if not is_file(path):
        raise DataError("kernel profile file not found", path)
    return _profile_of(str(path), stat_key(path, data_path(_DIR, _SOURCES_FILE)))


@memo(maxsize=64)
def _profile_of(path: str, stamp: tuple[tuple[str, int, int], ...]) -> KernelProfile:
    """The profile at ``path`` as on disk (``stamp``: its and the sources file's stat_key)."""
    del stamp  # part of the cache key only
    data = load_yaml(path)
    profile = models.validate(KernelProfile, data, Path(path), what="a kernel profile")
    _check_profile(profile, data, Path(path))
    return profile


def _check_profile(profile: KernelProfile, data: Any, path: Path) -> None:
    """What the model alone cannot see: the name is the file's, sources and layout exist."""
    if profile.name != path.stem:
        raise DataError(f"name {profile.name!r} must equal the file name stem {path.stem!r}", path, 1, "name")
    known = kernel_sources()
    for dotted, fact in profile.facts().items():
        for key in fact.source:
            if key not in known:
                loc = [*dotted.split("."), "source"]
                raise DataError(
                    f"unknown source {key!r}; known: {', '.join(sorted(known))}",
                    path,
                    models.line_for(data, loc),
                    ".".join(loc),
                )
    if profile.layout.value not in layout_names():
        raise DataError(
            f"unknown layout {profile.layout.value!r}; known: {', '.join(layout_names())}",
            path,
            models.line_for(data, ["layout", "value"]),
            "layout.value",
        )
    switches = layout_switches(profile.layout.value)
    for key in profile.layout.config:
        if key not in switches:
            raise DataError(
                f"{key} is no switch of layout {profile.layout.value}; switches: {', '.join(switches)}",
                path,
                models.line_for(data, ["layout", "config", key]),
                f"layout.config.{key}",
            )
