"""One parameter model per notebook: each parameter's type, range, choices and help, in one place.

A model is the single source of its notebook's ``parameters`` cell (``Model.parameters_cell()``; a
test checks the notebook agrees), of the check of ``reports.yaml`` parameter sets
(:func:`model_for`, used by :mod:`tdxlib.report.paramcell`), of its workbook functions' arguments,
of its widget panel's controls (:mod:`tdxlib.workbook.panel`) and of cache keys (models are frozen
and hashable). Values are the notebook's — "0 = none" stays 0 — and the properties (``online_at``,
``service``, ``columns``, ...) convert them once, for the library.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from tdxlib.data import load_yaml
from tdxlib.errors import TdxlibError, ValidationError
from tdxlib.kernel.jiffies import COMMON_HZ
from tdxlib.kernel.profile import DEFAULT_KERNEL, HOTPLUG_KERNEL, POLLING_KERNEL, kernel_names
from tdxlib.sweeps.paths import read_manifest, spec_path
from tdxlib.tdx.guest import DEFAULT_LAYOUT
from tdxlib.tdx.strategies import STRATEGY_NAMES, make_strategy
from tdxlib.tdx.vmm import profile_names
from tdxlib.values import Bool, Float, Int, Str
from tdxlib.workbook.param_model import NotebookParams, OneOf, param

__all__ = [
    "DELIVERY_QUOTES",
    "DELIVERY_STRATEGIES",
    "DELIVERY_VMMS",
    "HOTPLUG_STRATEGIES",
    "HZ_CHOICES",
    "NOTEBOOK_PARAMS",
    "POLL_INTERVALS",
    "BudgetParams",
    "DeliveryParams",
    "HotplugParams",
    "PollingParams",
    "ProposalsParams",
    "QuestionParams",
    "RegionsParams",
    "model_for",
]


def _strategy_names() -> Sequence[str]:
    return STRATEGY_NAMES


#: Strategies that tell the VMM where to notify (SetupEventNotifyInterrupt): what CPU hotplug can make
#: stale. Polling and a vector carried in GetQuote register no place. (Strategies are code: a constant.)
HOTPLUG_STRATEGIES: tuple[str, ...] = tuple(
    n for n in STRATEGY_NAMES if make_strategy(n).sets_up_event_notify
)


def _hotplug_strategies() -> Sequence[str]:
    return HOTPLUG_STRATEGIES


def _suite_names() -> list[str]:
    # reason: tdxlib.argument.proposals loads pandas; a suite name is checked only for notebook 06
    from tdxlib.argument.proposals.suites import suite_names

    return suite_names()


VmmName = Annotated[Str, OneOf(profile_names)]
KernelName = Annotated[Str, OneOf(kernel_names)]
StrategyName = Annotated[Str, OneOf(_strategy_names)]
HotplugStrategy = Annotated[Str, OneOf(_hotplug_strategies)]
_SEED_HELP = "seed of every random choice"


def _seed(detail: str = "") -> Any:
    help = f"{_SEED_HELP} ({detail})" if detail else _SEED_HELP
    return param(0, help, ge=0, le=2**31 - 1, widget="text")


# --------------------------------------------------------------------------------------------------
# 01 — the question
# --------------------------------------------------------------------------------------------------


class QuestionParams(NotebookParams):
    """01_the_question: the walk-through of a few GetQuote round trips."""

    NOTEBOOK: ClassVar[str] = "01_the_question"

    kernel: KernelName = param(DEFAULT_KERNEL, "guest kernel profile of the walk-through (data/kernels)")
    strategy: StrategyName = param("system-vector", "guest notify strategy of the walk-through")
    vmm: VmmName = param("qemu-10.1", "VMM profile of the walk-through", label="VMM")
    quotes: Int = param(3, "GetQuote round trips in the walk-through", ge=1, le=20)
    seed: Int = _seed("service times, arrivals")


# --------------------------------------------------------------------------------------------------
# 02 — the vector budget
# --------------------------------------------------------------------------------------------------


class BudgetParams(NotebookParams):
    """02_vector_budget: the vector budget of one guest, the CPU sweep and an optional capture."""

    NOTEBOOK: ClassVar[str] = "02_vector_budget"
    KERNEL: ClassVar[str] = DEFAULT_KERNEL  # the budget compares the 5.19 layouts with and without v8

    cpus: Int = param(64, "vCPUs of the guest studied in detail", ge=1, le=8192, label="vCPUs", widget="pow2")
    device_irqs_per_cpu: Int = param(
        4,
        "non-managed device IRQs per vCPU, spread as irq_matrix_alloc() does",
        ge=0,
        le=205,
        label="IRQs/vCPU",
    )
    max_cpus: Int = param(8192, "largest machine of the CPU sweep", ge=2, le=8192)
    intel_tdx_guest: Bool = param(
        True, "CONFIG_INTEL_TDX_GUEST in the compared kernels", label="CONFIG_INTEL_TDX_GUEST"
    )
    capture: Str = param(
        "", 'start from a machine capture in data/captures (name or path); "" = the model alone'
    )
    capture_layout: Str = param(
        "",
        're-seat the capture on this vector layout, e.g. linux-5.19-tdx-v8; "" = the capture\'s own',
    )

    @property
    def config(self) -> dict[str, bool]:
        """The Kconfig switches of the compared kernels."""
        return {"INTEL_TDX_GUEST": self.intel_tdx_guest}

    @property
    def sweep_cpus(self) -> list[int]:
        """The CPU sweep: powers of two up to ``max_cpus``."""
        return [n for n in (2**k for k in range(14)) if n <= self.max_cpus]


# --------------------------------------------------------------------------------------------------
# 03 — who gets the interrupt
# --------------------------------------------------------------------------------------------------

#: Strategies in the delivery matrix (all of tdxlib.tdx.strategies), in the thread's order.
DELIVERY_STRATEGIES: tuple[str, ...] = (
    "system-vector",
    "dynamic",
    "dynamic-apic",
    "caller-vcpu",
    "quote-carries-vector",
    "polling",
)
#: VMM profiles that differ in *where* they inject (the service-side profiles belong to 05).
DELIVERY_VMMS: tuple[str, ...] = (
    "ghci-1.0",
    "random-vcpu",
    "bsp-only",
    "ghci-1.5-caller",
    "qemu-10.1",
    "intel-qemu-2022",
    "apic-id-arg",
    "getquote-carries-vector",
    "never-injects",
)
#: Quotes per strategy × VMM cell at the notebook's default size. 10 (it was 20) keeps a redraw of the
#: 54-cell matrix under the 100 ms widget goal (issue 4): each cell is a full simulation, ~0.2 ms
#: set-up plus ~50 µs per quote; shares then move in steps of 10 %, enough to tell the cells apart.
DELIVERY_QUOTES = 10


class DeliveryParams(NotebookParams):
    """03_who_gets_the_interrupt: the strategy × VMM delivery matrix."""

    NOTEBOOK: ClassVar[str] = "03_who_gets_the_interrupt"
    KERNEL: ClassVar[str] = DEFAULT_KERNEL

    cpus: Int = param(8, "vCPUs of the guest", ge=2, le=256, label="vCPUs", slider=(2, 64))
    quotes: Int = param(DELIVERY_QUOTES, "GetQuote requests per cell", ge=1, le=1000, slider=(1, 100))
    seed: Int = _seed("arrivals, target vCPUs, service times")
    workload: Literal["open", "closed"] = param(
        "open",
        "open: Poisson arrivals, v8's worker completes every finished request; closed: one at a time",
        widget="toggle",
    )
    metric: Literal["lost_share", "completed_share"] = param(
        "lost_share", "what colours the interactive matrix"
    )
    vmms: Annotated[tuple[Str, ...], OneOf(profile_names)] = param(
        (), "VMM profiles (columns); [] = the nine that differ in where they inject", label="VMMs"
    )
    strategies: Annotated[tuple[Str, ...], OneOf(_strategy_names)] = param(
        (), "guest notify strategies (rows); [] = all six, in the thread's order"
    )

    @property
    def columns(self) -> list[str]:
        """The VMM profiles shown: ``vmms``, or the nine of :data:`DELIVERY_VMMS` when empty."""
        return list(self.vmms or DELIVERY_VMMS)

    @property
    def rows(self) -> list[str]:
        """The strategies shown: ``strategies``, or the six of :data:`DELIVERY_STRATEGIES` when empty."""
        return list(self.strategies or DELIVERY_STRATEGIES)

    def control_value(self, name: str) -> object:
        """The panel selects the shown rows and columns (empty means every default one)."""
        return {"vmms": tuple(self.columns), "strategies": tuple(self.rows)}.get(name, getattr(self, name))


# --------------------------------------------------------------------------------------------------
# 04 — hotplug
# --------------------------------------------------------------------------------------------------


class HotplugParams(NotebookParams):
    """04_hotplug: take the notify IRQ's CPU offline (and back) under a stream of quotes."""

    NOTEBOOK: ClassVar[str] = "04_hotplug"
    KERNEL_OVERRIDES: ClassVar[dict[str, Any]] = {"layout": DEFAULT_LAYOUT}  # the designs' IDT

    kernel: KernelName = param(
        HOTPLUG_KERNEL, "guest kernel profile (data/kernels); its TDs must be able to offline CPUs (6.11+)"
    )
    strategy: HotplugStrategy = param("caller-vcpu", "guest notify strategy")
    vmm: VmmName = param("qemu-10.1", "VMM profile", label="VMM")
    cpus: Int = param(4, "vCPUs of the guest", ge=2, le=64, label="vCPUs")
    reregister: Bool = param(
        True, "call SetupEventNotifyInterrupt again after the notify IRQ migrated", label="re-register"
    )
    reregister_delay_ms: Float = param(
        1.0,
        "time from the migration to the second call (ms)",
        ge=0,
        le=10000,
        label="delay ms",
        widget="log",
    )
    offline_at_s: Float = param(
        3.0,
        "when the notify IRQ's CPU goes offline (s), before duration_s",
        ge=0,
        le=600,
        label="offline at",
        step=0.1,
        max_from="duration_s",
    )
    online_at_s: Float = param(
        6.0,
        "when it comes back (s), after offline_at_s; 0 = stays offline",
        ge=0,
        le=600,
        label="online at",
        step=0.1,
        max_from="duration_s",
    )
    duration_s: Float = param(10.0, "simulated time (s)", ge=1, le=600)
    rate_per_s: Float = param(
        4.0,
        "GetQuote requests per second, Poisson",
        ge=0.1,
        le=100,
        label="quotes/s",
        step=0.5,
        slider=(0.5, 50),
    )
    service_ms: Float = param(
        50.0, "fixed quote service time (ms); 0 = the profile's distribution", ge=0, le=30000
    )
    seed: Int = _seed()

    @model_validator(mode="after")
    def _times_in_order(self) -> Self:
        if not self.offline_at_s < self.duration_s:
            raise ValidationError(
                "offline_at_s", self.offline_at_s, f"a time in [0, duration_s = {self.duration_s:g})"
            )
        if self.online_at_s and not self.offline_at_s < self.online_at_s:
            raise ValidationError(
                "online_at_s",
                self.online_at_s,
                f"0 (stays offline) or a time after offline_at_s = {self.offline_at_s:g}",
            )
        return self

    @property
    def online_at(self) -> float | None:
        """When the CPU comes back; None: it stays offline (the notebook's 0)."""
        return self.online_at_s or None

    @property
    def service(self) -> float | None:
        """The fixed service time (ms); None: the VMM profile's distribution (the notebook's 0)."""
        return self.service_ms or None


# --------------------------------------------------------------------------------------------------
# 05 — polling
# --------------------------------------------------------------------------------------------------

#: HZ values a kernel can be built with (Kconfig).
HZ_CHOICES: tuple[int, ...] = COMMON_HZ
#: Poll intervals (ms): the 1 and 5 ms proposals, the merged 1 s, and between.
POLL_INTERVALS: tuple[int, ...] = (1, 5, 10, 50, 100, 250, 1000)

PollInterval = Annotated[Int, Field(ge=1, le=60000)]


class PollingParams(NotebookParams):
    """05_polling: quote latency and wake-ups against the poll interval, per HZ."""

    NOTEBOOK: ClassVar[str] = "05_polling"
    KERNEL_OVERRIDES: ClassVar[dict[str, Any]] = {"layout": DEFAULT_LAYOUT}  # the v8 interrupt reference

    kernel: KernelName = param(
        POLLING_KERNEL, "guest kernel profile (data/kernels): its msleep(); HZ is swept by hz_values"
    )
    vmm: VmmName = param("qemu-10.1", "VMM profile serving the quotes", label="VMM")
    hz_values: tuple[Literal[100, 250, 300, 1000], ...] = param(
        (100, 250, 1000), "kernel HZ values compared", label="HZ"
    )
    poll_intervals_ms: tuple[PollInterval, ...] = param(
        POLL_INTERVALS,
        "poll intervals (ms): the 1 ms and 5 ms proposals, the merged 1 s, and between",
    )
    quotes: Int = param(
        50, "GetQuote requests per point (closed loop, one at a time)", ge=5, le=1000, step=5, slider=(5, 200)
    )
    service_ms: Float = param(
        0.0,
        "fixed quote service time (ms); 0 = the profile's distribution",
        ge=0,
        le=30000,
        label="service ms",
        step=10,
        slider=(0, 2000),
    )
    seed: Int = _seed()
    percentile: Literal["p50", "p99"] = param("p50", "latency percentile of the chart", widget="toggle")

    @property
    def service(self) -> float | None:
        """The fixed service time (ms); None: the VMM profile's distribution (the notebook's 0)."""
        return self.service_ms or None


# --------------------------------------------------------------------------------------------------
# 06 — proposals
# --------------------------------------------------------------------------------------------------


class ProposalsParams(NotebookParams):
    """06_proposals: one spec proposal evaluated across a suite, compared with others."""

    NOTEBOOK: ClassVar[str] = "06_proposals"

    proposal: Str = param(
        "caller-vcpu", "built-in proposal id (data/proposals/) or path to a proposal YAML file"
    )
    suite: Annotated[Str, OneOf(_suite_names)] = param(
        "default", "scenario suite of data/proposals/meta/suites.yaml"
    )
    compare_with: tuple[Str, ...] = param(
        (), "proposals (ids or paths) to compare against; empty: every built-in"
    )
    seeds: tuple[Annotated[Int, Field(ge=0)], ...] = param(
        (), "seeds of every random choice; empty: the suite seeds"
    )

    @property
    def suite_seeds(self) -> list[int] | None:
        """The seeds to evaluate with; None: the suite's own (the notebook's empty list)."""
        return list(self.seeds) or None

    def kernel_name(self) -> str:
        """The suite's guest kernel profile (data/proposals/meta/suites.yaml)."""
        # reason: tdxlib.argument.proposals loads pandas; only a report header asks
        from tdxlib.argument.proposals.suites import suite

        return suite(self.suite).kernel

    def kernel_overrides(self) -> dict[str, Any]:
        """The proposal's own vector layout replaces the suite kernel's."""
        # reason: tdxlib.argument.proposals loads pandas; only a report header asks
        from tdxlib.argument.proposals.load import resolve

        return {"layout": resolve(self.proposal).strategy.layout}


# --------------------------------------------------------------------------------------------------
# 07 — how far does each verdict hold?
# --------------------------------------------------------------------------------------------------


def _swept_claims() -> Sequence[str]:
    # reason: the predicates load the simulator; a claim name is checked only for notebook 07
    from tdxlib.sweeps.predicates import predicate_ids

    return predicate_ids()


SweptClaim = Annotated[Str, OneOf(_swept_claims)]


class RegionsParams(NotebookParams):
    """07_how_far: a sweep across the design space, read as verdicts with confidence."""

    NOTEBOOK: ClassVar[str] = "07_how_far"

    spec: Str = param("default", "sweep spec run here: a name in data/sweeps/ or a .yaml path")
    result: Str = param(
        "", 'read this result folder (tdxlib sweep SPEC --out DIR) instead; "" = run spec here'
    )
    workers: Int = param(0, "worker processes of the local Dask cluster; 0 = one per core", ge=0, le=256)
    claim: SweptClaim = param("caller-vcpu-rule-suffices", "the claim whose region the heatmaps show")
    x: Str = param("vmm", "axis across each heatmap")
    y: Str = param("device_irqs", "axis down each heatmap")
    facet: Str = param("cpus", 'one heatmap per value of this axis; "" = one heatmap')
    fixed: tuple[Str, ...] = param(
        ("strategy=caller-vcpu",), "the other axes pinned, as axis=value; an axis not pinned is pooled"
    )
    flip_claim: SweptClaim = param("system-vector-wasteful", "the claim whose flip boundary is traced")
    along: Str = param("device_irqs", "the axis along which it flips")
    by: Str = param("cpus", "one boundary per value of this axis")

    def _spec_data(self) -> dict[str, Any]:
        """The sweep's spec as plain data: the result folder's manifest, or the spec file read (the
        light readers only: a report names the kernel of every run on every build)."""
        data = read_manifest(self.result)["spec"] if self.result else load_yaml(spec_path(self.spec))
        return data if isinstance(data, dict) else {}

    def kernel_name(self) -> str | None:
        """The sweep's guest kernel profile (its ``base``, else the default); None when the kernel is an
        axis or the spec cannot be read (the notebook then says why)."""
        try:
            spec = self._spec_data()
        except (TdxlibError, OSError):
            return None
        if "kernel" in (spec.get("axes") or {}):
            return None
        return str((spec.get("base") or {}).get("kernel", DEFAULT_KERNEL))

    def kernel_overrides(self) -> dict[str, Any]:
        """The kernel facts the sweep's ``base`` replaces (layout, HZ, msleep's extra jiffy)."""
        try:
            base = self._spec_data().get("base") or {}
        except (TdxlibError, OSError):
            return {}
        return {k: base[k] for k in ("layout", "hz", "extra_jiffy") if k in base}

    @property
    def pins(self) -> dict[str, str]:
        """``fixed`` as axis -> value (values as written: matched against the axis' labels)."""
        out = {}
        for item in self.fixed:
            axis, sep, value = item.partition("=")
            if not sep or not axis.strip():
                raise ValidationError("fixed", item, "axis=value")
            out[axis.strip()] = value.strip()
        return out


#: Notebook stem -> its parameter model.
NOTEBOOK_PARAMS: dict[str, type[NotebookParams]] = {
    m.NOTEBOOK: m
    for m in (
        QuestionParams,
        BudgetParams,
        DeliveryParams,
        HotplugParams,
        PollingParams,
        ProposalsParams,
        RegionsParams,
    )
}


def model_for(notebook: str) -> type[NotebookParams] | None:
    """The parameter model of a notebook (file stem), or None when it has none (e.g. test fixtures)."""
    return NOTEBOOK_PARAMS.get(notebook)
