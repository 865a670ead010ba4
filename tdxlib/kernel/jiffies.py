"""How ``msleep_interruptible()`` really sleeps: jiffies conversion, the extra jiffy, the timer wheel.

A poller that asks for 1000 ms does not sleep 1000 ms. The kernel converts the request to jiffies
(rounding up), adds one jiffy (before Linux 6.12), arms a timer-wheel timer whose bucket is rounded
*up* to the granularity of the wheel level the timeout falls into, and the task wakes on the tick
that expires that bucket. Sources (read with the search tools, paraphrased here):

- ``kernel/time/timer.c`` (torvalds/linux 0010b838…, 6.x): ``LVL_CLK_SHIFT 3``, ``LVL_BITS 6``,
  ``LVL_START(n) = 63 << 3(n-1)``, ``LVL_DEPTH 9`` for HZ > 100 else 8; ``calc_index()`` puts a
  timer in the bucket ``((expires >> 3*lvl) + 1) << 3*lvl`` ("round up with level granularity",
  level 0 included); ``__run_timers()`` expires a bucket once ``jiffies`` reaches it;
  ``schedule_timeout()`` arms ``expire = timeout + jiffies``; ``msleep_interruptible()`` uses
  ``msecs_to_jiffies(msecs) + 1``.
- 4381b895f544 "timers: Remove historical extra jiffie for timeout in msleep()" (timers/core for
  v6.12-rc1): the ``+ 1`` is gone from v6.12 on ("the enqueue path already takes care of this"; v6.13
  only moved the code to ``kernel/time/sleep_timeout.c``, read at torvalds/linux 44722ff7…); select it
  with ``extra_jiffy=False``. Which a guest kernel does is its profile's ``msleep_extra_jiffy``
  (``data/kernels``).

Model: jiffy ``J`` spans real time ``[J*T, (J+1)*T)`` with ``T = 1000/HZ`` ms; a sleep started at
``start_phase`` (fraction of the current jiffy already gone) in jiffy ``jiffies`` ends at the tick of
the timer's bucket. The timer base clock is taken equal to ``jiffies`` (what ``forward_timer_base()``
does for a non-idle base); softirq and wake-up latency are not modelled (they only add time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tdxlib.errors import ValidationError

#: HZ values the kernel offers in ``kernel/Kconfig.hz`` (any positive HZ <= 1000 is accepted here).
COMMON_HZ: tuple[int, ...] = (100, 250, 300, 1000)

LVL_CLK_SHIFT = 3
LVL_CLK_DIV = 1 << LVL_CLK_SHIFT
LVL_BITS = 6
LVL_SIZE = 1 << LVL_BITS
MSEC_PER_SEC = 1000


def _check_hz(hz: int) -> int:
    if not isinstance(hz, int) or isinstance(hz, bool) or not 1 <= hz <= 1000:
        raise ValidationError("hz", hz, "an integer HZ in 1..1000 (Kconfig offers 100, 250, 300, 1000)")
    return hz


def _check_msecs(msecs: int) -> int:
    if not isinstance(msecs, int) or isinstance(msecs, bool) or not 0 <= msecs < 2**31:
        raise ValidationError("msecs", msecs, "an integer number of milliseconds in 0..2**31-1")
    return msecs


def lvl_depth(hz: int) -> int:
    """``LVL_DEPTH``: 9 wheel levels when HZ > 100, else 8."""
    return 9 if _check_hz(hz) > 100 else 8


def lvl_gran(lvl: int) -> int:
    """``LVL_GRAN(lvl)``: granularity of wheel level ``lvl`` in jiffies (8**lvl)."""
    return 1 << (lvl * LVL_CLK_SHIFT)


def lvl_start(lvl: int) -> int:
    """``LVL_START(lvl)``: the smallest timeout (jiffies from the base clock) filed in level ``lvl``."""
    return (LVL_SIZE - 1) << ((lvl - 1) * LVL_CLK_SHIFT)


def tick_ms(hz: int) -> float:
    """Length of one jiffy in milliseconds."""
    return MSEC_PER_SEC / _check_hz(hz)


def msecs_to_jiffies(msecs: int, hz: int) -> int:
    """``msecs_to_jiffies()``: milliseconds to jiffies, rounded up (all HZ, also HZ not dividing 1000)."""
    _check_msecs(msecs)
    return -(-msecs * _check_hz(hz) // MSEC_PER_SEC)


def jiffies_to_msecs(j: int, hz: int) -> int:
    """``jiffies_to_msecs()``: jiffies to milliseconds, rounded up."""
    return -(-j * MSEC_PER_SEC // _check_hz(hz))


def msleep_timeout(msecs: int, hz: int, *, extra_jiffy: bool = True) -> int:
    """The ``timeout`` msleep_interruptible() hands to schedule_timeout (``+1`` before Linux 6.12)."""
    return msecs_to_jiffies(msecs, hz) + (1 if extra_jiffy else 0)


def wheel_level(delta: int, hz: int) -> int:
    """The level ``calc_wheel_index()`` files a timer ``delta`` jiffies ahead of the base clock into."""
    depth = lvl_depth(hz)
    for lvl in range(depth - 1):
        if delta < lvl_start(lvl + 1):
            return lvl
    return depth - 1


def bucket_expiry(expires: int, clk: int, hz: int) -> int:
    """The jiffy at which the wheel really expires a timer armed for ``expires`` at base clock ``clk``.

    ``calc_index()``: ``((expires >> LVL_SHIFT(lvl)) + 1) << LVL_SHIFT(lvl)`` — always strictly after
    ``expires``; huge timeouts are clamped to ``WHEEL_TIMEOUT_MAX`` first, as the kernel does.
    """
    delta = expires - clk
    if delta < 0:
        return clk
    depth = lvl_depth(hz)
    lvl = wheel_level(delta, hz)
    if lvl == depth - 1:
        cutoff = lvl_start(depth)
        if delta >= cutoff:
            expires = clk + cutoff - lvl_gran(depth - 1)
    shift = lvl * LVL_CLK_SHIFT
    return ((expires >> shift) + 1) << shift


def wake_jiffy(msecs: int, hz: int, jiffies: int, *, extra_jiffy: bool = True) -> int:
    """Jiffy (tick) at which ``msleep_interruptible(msecs)`` called during jiffy ``jiffies`` returns.

    A timeout of 0 jiffies (only possible with ``extra_jiffy=False`` and ``msecs=0``) does not sleep.
    """
    timeout = msleep_timeout(msecs, hz, extra_jiffy=extra_jiffy)
    if timeout == 0:
        return jiffies
    return bucket_expiry(jiffies + timeout, jiffies, hz)


def sleep_duration_ms(
    msecs: int, hz: int, start_phase: float, *, jiffies: int = 0, extra_jiffy: bool = True
) -> float:
    """Real duration (ms) of ``msleep_interruptible(msecs)`` started ``start_phase`` into jiffy ``jiffies``.

    ``start_phase`` in [0, 1) is how much of the current jiffy had already passed; ``jiffies`` matters
    for timeouts beyond 63 jiffies because coarser wheel buckets are aligned to absolute jiffies.
    """
    if not 0.0 <= start_phase < 1.0:
        raise ValidationError("start_phase", start_phase, "a fraction of a jiffy in [0, 1)")
    wake = wake_jiffy(msecs, hz, jiffies, extra_jiffy=extra_jiffy)
    if wake == jiffies:
        return 0.0
    return (wake - jiffies - start_phase) * tick_ms(hz)


def sleep_granularity(msecs: int, hz: int, *, extra_jiffy: bool = True) -> int:
    """Granularity (jiffies) of the wheel level the msleep timer lands in."""
    timeout = msleep_timeout(msecs, hz, extra_jiffy=extra_jiffy)
    return lvl_gran(wheel_level(timeout, hz))


def min_sleep_ms(msecs: int, hz: int, *, extra_jiffy: bool = True) -> float:
    """Infimum of the real sleep over all start phases and jiffy alignments (never reached: strict)."""
    timeout = msleep_timeout(msecs, hz, extra_jiffy=extra_jiffy)
    return timeout * tick_ms(hz)


def max_sleep_ms(msecs: int, hz: int, *, extra_jiffy: bool = True) -> float:
    """Maximum real sleep (reached when the call starts right on a tick and the bucket is a full level
    granule away)."""
    timeout = msleep_timeout(msecs, hz, extra_jiffy=extra_jiffy)
    if timeout == 0:
        return 0.0
    return (timeout + sleep_granularity(msecs, hz, extra_jiffy=extra_jiffy)) * tick_ms(hz)


@dataclass(frozen=True)
class JiffyClock:
    """Maps simulated time (seconds) to the guest's jiffies: ``jiffies(t) = floor(t*HZ + phase) + offset``.

    ``offset`` and ``phase`` (the boot alignment) come from the scenario's seed, so the wheel-bucket
    alignment of every sleep is reproducible.
    """

    hz: int
    offset: int = 0
    phase: float = 0.0
    extra_jiffy: bool = True

    def __post_init__(self) -> None:
        _check_hz(self.hz)
        if not 0.0 <= self.phase < 1.0:
            raise ValidationError("phase", self.phase, "a fraction of a jiffy in [0, 1)")

    def jiffies_at(self, t_s: float) -> int:
        """The jiffies value at simulated time ``t_s`` (a tick within 1e-6 jiffy counts as passed)."""
        return math.floor(t_s * self.hz + self.phase + 1e-6) + self.offset

    def tick_time(self, jiffy: int) -> float:
        """Simulated time (s) of the tick that makes ``jiffies == jiffy``."""
        return (jiffy - self.offset - self.phase) / self.hz

    def msleep_end(self, t_s: float, msecs: int) -> float:
        """Simulated time at which ``msleep_interruptible(msecs)`` called at ``t_s`` returns."""
        j = self.jiffies_at(t_s)
        wake = wake_jiffy(msecs, self.hz, j, extra_jiffy=self.extra_jiffy)
        if wake == j:
            return t_s
        return max(self.tick_time(wake), t_s)
