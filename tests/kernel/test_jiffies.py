"""tdxlib.kernel.jiffies: msleep_interruptible as the kernel sleeps it (expected values by hand)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxlib.errors import ValidationError
from tdxlib.kernel.jiffies import (
    JiffyClock,
    bucket_expiry,
    jiffies_to_msecs,
    lvl_depth,
    max_sleep_ms,
    min_sleep_ms,
    msecs_to_jiffies,
    msleep_timeout,
    sleep_duration_ms,
    sleep_granularity,
    wake_jiffy,
    wheel_level,
)

HZS = (100, 250, 300, 1000)


def test_msecs_to_jiffies_rounds_up():
    # HZ=250: 4 ms per jiffy. 1 ms -> 1, 5 ms -> 2 (5/4 rounded up), 1000 ms -> 250.
    assert [msecs_to_jiffies(m, 250) for m in (0, 1, 4, 5, 1000)] == [0, 1, 1, 2, 250]
    # HZ=300 does not divide 1000: 5 ms * 300 / 1000 = 1.5 -> 2; 1000 ms -> 300.
    assert [msecs_to_jiffies(m, 300) for m in (1, 5, 10, 1000)] == [1, 2, 3, 300]
    assert [msecs_to_jiffies(m, 100) for m in (1, 5, 10, 11)] == [1, 1, 1, 2]
    assert msecs_to_jiffies(7, 1000) == 7
    assert jiffies_to_msecs(1, 300) == 4  # 3.33 ms rounded up


def test_extra_jiffy_until_6_12():
    assert msleep_timeout(1000, 250) == 251
    assert msleep_timeout(1000, 250, extra_jiffy=False) == 250


def test_wheel_levels_follow_lvl_start():
    # LVL_START(1) = 63, LVL_START(2) = 63 << 3 = 504, LVL_START(3) = 63 << 6 = 4032
    assert [wheel_level(d, 250) for d in (0, 62, 63, 503, 504, 4031, 4032)] == [0, 0, 1, 1, 2, 2, 3]
    assert lvl_depth(100) == 8 and lvl_depth(250) == 9


def test_bucket_rounds_up_to_level_granularity_and_never_early():
    # level 0: the next jiffy after expires (calc_index adds one granule even at level 0)
    assert bucket_expiry(1000 + 2, 1000, 250) == 1003
    # level 1 (granularity 8): the next multiple of 8 strictly above expires
    assert bucket_expiry(251, 0, 250) == 256
    assert bucket_expiry(255, 0, 250) == 256
    assert bucket_expiry(256, 0, 250) == 264
    # level 2 (granularity 64)
    assert bucket_expiry(1001, 0, 1000) == 1024
    # far timeouts are clamped to the wheel's capacity (WHEEL_TIMEOUT_MAX)
    huge = bucket_expiry(1 << 40, 0, 1000)
    assert huge < 1 << 40


def test_one_second_at_hz250_bounds_by_hand():
    # msecs_to_jiffies(1000) = 250, +1 -> 251 jiffies; 63 <= 251 < 504 -> level 1, granularity 8.
    # The bucket is the next multiple of 8 above jiffies + 251: 252..259 jiffies after the call's jiffy.
    # Real time = (bucket - jiffies - phase) * 4 ms  ->  (1004, 1036] ms.
    assert sleep_granularity(1000, 250) == 8
    assert min_sleep_ms(1000, 250) == pytest.approx(251 * 4)
    assert max_sleep_ms(1000, 250) == pytest.approx(259 * 4)
    seen = [sleep_duration_ms(1000, 250, phase, jiffies=j) for j in range(16) for phase in (0.0, 0.5, 0.999)]
    assert min(seen) > 1000  # never below the request
    assert min(seen) > 1004 - 1e-9
    assert max(seen) == pytest.approx(1036.0)
    assert sleep_duration_ms(1000, 250, 0.0, jiffies=0) == pytest.approx(256 * 4)  # bucket 256


@pytest.mark.parametrize(
    ("msecs", "hz", "lo", "hi"),
    [
        # 1 ms at HZ=250: 1 jiffy + 1 = 2, level 0 adds one more -> wakes 3 jiffies after the call's jiffy
        (1, 250, 8.0, 12.0),
        (5, 250, 12.0, 16.0),  # ceil(5/4)=2, +1 = 3 -> (3*4, 4*4]
        (1, 1000, 2.0, 3.0),
        (5, 1000, 6.0, 7.0),
        (1, 100, 20.0, 30.0),
        (5, 100, 20.0, 30.0),
        (1000, 100, 1010.0, 1090.0),  # 101 jiffies, level 1 (gran 8): (101*10, 109*10]
        (1000, 1000, 1001.0, 1065.0),  # 1001 jiffies, level 2 (gran 64): (1001, 1065]
    ],
)
def test_short_and_long_sleeps(msecs, hz, lo, hi):
    assert min_sleep_ms(msecs, hz) == pytest.approx(lo)
    assert max_sleep_ms(msecs, hz) == pytest.approx(hi)
    samples = [sleep_duration_ms(msecs, hz, p, jiffies=j) for j in range(70) for p in (0.0, 0.3, 0.99)]
    assert all(lo < s <= hi + 1e-9 for s in samples)
    assert max(samples) == pytest.approx(hi)


def test_without_extra_jiffy_6_12():
    # 1 ms at HZ=250 on 6.12+: 1 jiffy, level 0 rounding -> 2 jiffies after the call's jiffy: (4, 8]
    assert min_sleep_ms(1, 250, extra_jiffy=False) == pytest.approx(4.0)
    assert max_sleep_ms(1, 250, extra_jiffy=False) == pytest.approx(8.0)
    assert wake_jiffy(0, 250, 10, extra_jiffy=False) == 10  # nothing to sleep
    assert sleep_duration_ms(0, 250, 0.5, extra_jiffy=False) == 0.0


@settings(max_examples=300, deadline=None)
@given(
    msecs=st.integers(0, 200_000),
    hz=st.sampled_from(HZS),
    phase=st.floats(0.0, 0.999999),
    jiffies=st.integers(0, 1 << 32),
    extra=st.booleans(),
)
def test_sleep_never_early_and_within_bounds(msecs, hz, phase, jiffies, extra):
    d = sleep_duration_ms(msecs, hz, phase, jiffies=jiffies, extra_jiffy=extra)
    if msecs == 0 and not extra:
        assert d == 0.0
        return
    assert d >= msecs
    assert d > min_sleep_ms(msecs, hz, extra_jiffy=extra) - 1e-6
    assert d <= max_sleep_ms(msecs, hz, extra_jiffy=extra) + 1e-6


@settings(max_examples=100, deadline=None)
@given(t=st.floats(0, 1e5), hz=st.sampled_from(HZS), phase=st.floats(0, 0.999), off=st.integers(0, 1 << 20))
def test_clock_matches_sleep_duration(t, hz, phase, off):
    clock = JiffyClock(hz, offset=off, phase=phase)
    j = clock.jiffies_at(t)
    start_phase = (t * hz + phase) - (j - off)
    start_phase = min(max(start_phase, 0.0), 0.999999)
    end = clock.msleep_end(t, 1000)
    assert clock.jiffies_at(end) == wake_jiffy(1000, hz, j)
    assert (end - t) * 1000 == pytest.approx(sleep_duration_ms(1000, hz, start_phase, jiffies=j), abs=1e-5)


def test_validation():
    with pytest.raises(ValidationError, match="hz"):
        msecs_to_jiffies(1, 0)
    with pytest.raises(ValidationError, match="msecs"):
        msecs_to_jiffies(-1, 250)
    with pytest.raises(ValidationError, match="start_phase"):
        sleep_duration_ms(1, 250, 1.0)
    with pytest.raises(ValidationError, match="phase"):
        JiffyClock(250, phase=1.5)
