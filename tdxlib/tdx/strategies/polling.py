"""``Polling``: no interrupt; the guest re-reads the buffer status after sleeping, as Linux 6.7+ does.

Loop semantics are those of ``wait_for_quote_completion()`` in drivers/virt/coco/tdx-guest/tdx-guest.c
(merged in f4738f56d1dc, Linux 6.7; read at Kingxukai/linux 0291023e): check the status; while it is
``GET_QUOTE_IN_FLIGHT`` and ``i++ < timeout``, ``msleep_interruptible(MSEC_PER_SEC)``; return
``-ETIMEDOUT`` if ``i == timeout`` else 0. The boundary is inverted: a request that completes just
after the last sleep gets ``-ETIMEDOUT``, one still in flight after it leaves the loop with ``i ==
timeout + 1`` and 0 — which the caller turns into ``-EIO`` only since 0f409eaea53e ("Return error for
GetQuote failures", 2026; ``status_check=True``), before that it returned an empty quote. Sleeps are
real kernel sleeps (:mod:`tdxlib.kernel.jiffies`), so 30 iterations of 1 s last longer than 30 s.

``interval_ms`` and the iteration count are parameters (``iterations`` defaults to
``ceil(timeout_s * 1000 / interval_ms)``: 30 for the merged driver), covering the later 1 ms / 5 ms
proposals. The merged driver serialises requests behind ``quote_lock`` with one shared buffer, and
refuses a new request with ``-EBUSY`` while an abandoned one is still in flight (``serialized=True``).
"""

from __future__ import annotations

import errno
import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from tdxlib.errors import ValidationError
from tdxlib.kernel.jiffies import JiffyClock, msleep_timeout, wheel_level
from tdxlib.tdx.ghci.facts import constants
from tdxlib.tdx.strategies.base import NotifyStrategy

__all__ = ["PollOutcome", "Polling"]


def _getquote_timeout_s() -> float:
    """The merged driver's ``getquote_timeout`` (data/ghci/get_quote.yaml), read on first use."""
    return float(constants().GET_QUOTE_TIMEOUT_S)


@dataclass(frozen=True)
class PollOutcome:
    """How one ``wait_for_quote_completion()`` ended.

    ``ret`` is the driver's return (0, -ETIMEDOUT, -EIO after the status check); ``status`` what the
    buffer said at the end; ``boundary`` marks -ETIMEDOUT although the quote had arrived;
    ``empty_quote`` marks a 0 return with the request still in flight (pre-0f409eaea53e kernels hand
    user space an empty quote).
    """

    end_s: float
    wakeups: int
    ret: int
    status: Literal["in-flight", "success", "error"]
    boundary: bool = False
    empty_quote: bool = False

    @property
    def completed(self) -> bool:
        """True when the caller got a quote (ret 0 and the VMM answered success)."""
        return self.ret == 0 and self.status == "success"


@dataclass(frozen=True, kw_only=True)
class Polling(NotifyStrategy):
    """Sleep ``interval_ms`` (msleep_interruptible) between status checks, at most ``iterations`` times."""

    name: ClassVar[str] = "polling"
    uses_interrupt: ClassVar[bool] = False

    interval_ms: int = 1000  # MSEC_PER_SEC in wait_for_quote_completion()
    timeout_s: float | None = field(default_factory=_getquote_timeout_s)  # getquote_timeout = 30
    iterations: int | None = None
    status_check: bool = True
    serialized: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fallback is not None:
            raise ValidationError("fallback", self.fallback, "None for Polling (it is the fallback)")
        iv = self.interval_ms
        if not isinstance(iv, int) or isinstance(iv, bool) or not 1 <= iv < 2**31:
            raise ValidationError("interval_ms", iv, "an integer number of milliseconds in 1..2**31-1")
        it = self.iterations
        if it is not None and (not isinstance(it, int) or isinstance(it, bool) or it < 0):
            raise ValidationError("iterations", it, "None or an integer >= 0")

    @property
    def loops(self) -> int | None:
        """The driver's ``timeout`` argument: the number of sleeps allowed (None: poll forever)."""
        if self.iterations is not None:
            return self.iterations
        if self.timeout_s is None:
            return None
        return math.ceil(self.timeout_s * 1000.0 / self.interval_ms - 1e-9)

    # ------------------------------------------------------------------ the loop

    def _sleeps_until(
        self, t0: float, clock: JiffyClock, stop: float, max_sleeps: int | None
    ) -> tuple[int, float]:
        """Sleep from ``t0`` until a wake-up at or after ``stop`` or ``max_sleeps`` sleeps; (sleeps, time)."""
        n, t = 0, t0
        limit = math.inf if max_sleeps is None else max_sleeps
        if n >= limit or t >= stop:
            return n, t
        t = clock.msleep_end(t, self.interval_ms)
        n = 1
        if n >= limit or t >= stop:
            return n, t
        timeout = msleep_timeout(self.interval_ms, clock.hz, extra_jiffy=clock.extra_jiffy)
        if timeout > 0 and wheel_level(timeout, clock.hz) == 0:
            # Level-0 timers armed right on a tick: every further sleep is exactly timeout + 1 jiffies.
            step = timeout + 1
            j1 = clock.jiffies_at(t)
            if math.isinf(stop):
                k = int(limit - n)
            else:
                k = max(0, math.ceil(((stop * clock.hz + clock.phase + clock.offset) - j1) / step))
                while clock.tick_time(j1 + k * step) < stop:
                    k += 1
                while k > 0 and clock.tick_time(j1 + (k - 1) * step) >= stop:
                    k -= 1
                k = int(min(k, limit - n))
            return n + k, clock.tick_time(j1 + k * step)
        while n < limit and t < stop:
            t = clock.msleep_end(t, self.interval_ms)
            n += 1
        return n, t

    def wait(
        self, t0: float, completed_at: float | None, clock: JiffyClock, *, success: bool = True
    ) -> PollOutcome:
        """Run ``wait_for_quote_completion()`` from ``t0`` for a request whose status leaves IN_FLIGHT at
        ``completed_at`` (None: never) with a success (or error) status."""
        loops = self.loops
        stop = math.inf if completed_at is None else completed_at
        if loops is None and completed_at is None:
            return PollOutcome(math.inf, 0, 0, "in-flight")
        n, t = self._sleeps_until(t0, clock, stop, loops)
        done = t >= stop
        final: Literal["in-flight", "success", "error"] = (
            ("success" if success else "error") if done else "in-flight"
        )
        i = n if done else n + 1  # the failed `i++ < timeout` test still increments i
        ret = -errno.ETIMEDOUT if loops is not None and i == loops else 0
        boundary = ret != 0 and done
        empty = False
        if ret == 0 and final != "success":
            if self.status_check:
                ret = -errno.EIO
            else:
                empty = True
        return PollOutcome(t, n, ret, final, boundary, empty)

    def wakeups_before(self, t0: float, clock: JiffyClock, t: float) -> int:
        """Sleeps that ended strictly before ``t`` (for an interrupt that cuts a fallback poll short)."""
        n, tn = self._sleeps_until(t0, clock, t, self.loops)
        return n - 1 if n and tn >= t else n
