"""Stateful hypothesis tests: random sequences of every IrqMatrix operation on small matrices.

Each step runs the operation on the numpy model and on ``RefMatrix`` - a slow, literal transcription of
kernel/irq/matrix.c (loops over CPUs and bits, sets for bitmaps) - and checks that both agree on the
result, the error (type and errno), the warnings and the state; then checks the kernel's invariants.
"""

from __future__ import annotations

import errno
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tdxlib.errors import MatrixError, MatrixMisuse, ValidationError
from tdxlib.kernel.matrix import UINT_MAX, IrqMatrix, MatrixWarning

M32 = UINT_MAX + 1


class _Misuse(Exception):
    pass


class _Fail(Exception):
    def __init__(self, err: int) -> None:
        self.errno = err


class _Cpu:
    def __init__(self) -> None:
        self.available = 0
        self.allocated = 0
        self.managed = 0
        self.managed_allocated = 0
        self.initialized = False
        self.online = False
        self.alloc_map: set[int] = set()
        self.managed_map: set[int] = set()


class RefMatrix:
    """Reference: matrix.c step by step, plus the same refusals tdxlib documents as deviations."""

    def __init__(self, bits: int, start: int, end: int, ncpus: int) -> None:
        self.bits, self.start, self.end, self.ncpus = bits, start, end, ncpus
        self.size = end - start
        self.gavl = self.gres = self.sysin = self.total = self.online_maps = 0
        self.system: set[int] = set()
        self.cm = [_Cpu() for _ in range(ncpus)]
        self.warned = False

    def _sub(self, value: int) -> int:
        if value < 0:
            self.warned = True
        return value % M32

    def _mask(self, cpus: list[int]) -> list[int]:
        for c in cpus:
            if not 0 <= c < self.ncpus:
                raise ValidationError("cpu", c, "")
        return sorted(set(cpus))

    def _check_cpu(self, cpu: int) -> None:
        if not 0 <= cpu < self.ncpus:
            raise ValidationError("cpu", cpu, "")

    def online(self, cpu: int) -> None:
        self._check_cpu(cpu)
        cm = self.cm[cpu]
        if cm.online:
            raise _Misuse
        if not cm.initialized:
            cm.available = self._sub(self.size - (cm.managed + self.sysin))
            cm.initialized = True
        self.gavl = (self.gavl + cm.available) % M32
        cm.online = True
        self.online_maps += 1

    def online_many(self, cpus: list[int]) -> None:
        for cpu in cpus:
            self._check_cpu(cpu)
        if len(set(cpus)) != len(cpus) or any(self.cm[c].online for c in cpus):
            raise _Misuse
        for cpu in cpus:
            self.online(cpu)

    def offline(self, cpu: int) -> None:
        self._check_cpu(cpu)
        cm = self.cm[cpu]
        if not cm.online:
            raise _Misuse
        self.gavl = (self.gavl - cm.available) % M32
        cm.online = False
        self.online_maps -= 1

    def _find_zero(self, cm: _Cpu) -> int:
        for bit in range(self.start, self.end):
            if bit not in cm.managed_map and bit not in self.system and bit not in cm.alloc_map:
                return bit
        return self.end

    def assign_system(self, bit: int, replace: bool) -> None:
        if bit >= self.bits:
            raise _Misuse
        if self.online_maps > 1 or (self.online_maps and not replace):
            raise _Misuse
        this = next((c for c in range(self.ncpus) if self.cm[c].online), 0)
        cm = self.cm[this]
        if bit in self.system:
            raise _Misuse
        if replace and (bit not in cm.alloc_map or bit in cm.managed_map):
            raise _Misuse
        self.system.add(bit)
        if replace:
            cm.alloc_map.discard(bit)
            cm.allocated -= 1
            self.total -= 1
        if self.start <= bit < self.end:
            self.sysin += 1

    def _remove_one(self, cpu: int) -> None:
        cm = self.cm[cpu]
        bit = min(cm.managed_map - cm.alloc_map)
        cm.managed_map.discard(bit)
        cm.managed -= 1
        if cm.online:
            cm.available = self._sub(cm.available + 1)
            self.gavl = (self.gavl + 1) % M32

    def reserve_managed(self, cpus: list[int]) -> None:
        msk = self._mask(cpus)
        for i, cpu in enumerate(msk):
            cm = self.cm[cpu]
            bit = self._find_zero(cm)
            if bit >= self.end:
                for done in msk[:i]:
                    self._remove_one(done)
                raise _Fail(errno.ENOSPC)
            cm.managed_map.add(bit)
            cm.managed += 1
            if cm.online:
                cm.available = self._sub(cm.available - 1)
                self.gavl = (self.gavl - 1) % M32

    def remove_managed(self, cpus: list[int]) -> None:
        msk = self._mask(cpus)
        for cpu in msk:
            cm = self.cm[cpu]
            if not cm.managed or not cm.managed_map - cm.alloc_map:
                raise _Misuse
        for cpu in msk:
            self._remove_one(cpu)

    def alloc_managed(self, cpus: list[int]) -> tuple[int, int]:
        msk = self._mask(cpus)
        if not msk:
            raise _Fail(errno.EINVAL)
        best, allocated = None, UINT_MAX
        for cpu in msk:
            cm = self.cm[cpu]
            if not cm.online or cm.managed_allocated > allocated:
                continue
            best, allocated = cpu, cm.managed_allocated
        if best is None:
            raise _Fail(errno.ENOSPC)
        cm = self.cm[best]
        free = cm.managed_map - cm.alloc_map
        if not free:
            raise _Fail(errno.ENOSPC)
        bit = min(free)
        cm.alloc_map.add(bit)
        cm.allocated += 1
        cm.managed_allocated += 1
        self.total += 1
        return bit, best

    def assign(self, cpu: int, bit: int) -> None:
        self._check_cpu(cpu)
        cm = self.cm[cpu]
        if not self.start <= bit < self.end or bit in cm.alloc_map:
            raise _Misuse
        if not cm.online or bit in self.system or bit in cm.managed_map:
            raise _Misuse
        cm.alloc_map.add(bit)
        cm.allocated += 1
        self.total += 1
        cm.available = self._sub(cm.available - 1)
        self.gavl = (self.gavl - 1) % M32

    def reserve(self) -> None:
        if self.gres == self.gavl:
            self.warned = True
        self.gres += 1

    def remove_reserved(self) -> None:
        if self.gres == 0:
            raise _Misuse
        self.gres -= 1

    def alloc(self, cpus: list[int], reserved: bool) -> tuple[int, int]:
        msk = self._mask(cpus)
        if not msk:
            raise _Fail(errno.EINVAL)
        best, maxavl = None, 0
        for cpu in msk:
            cm = self.cm[cpu]
            if not cm.online or cm.available <= maxavl:
                continue
            best, maxavl = cpu, cm.available
        if best is None:
            raise _Fail(errno.ENOSPC)
        cm = self.cm[best]
        bit = self._find_zero(cm)
        if bit >= self.end:
            raise _Fail(errno.ENOSPC)
        if reserved and self.gres == 0:
            raise _Misuse
        cm.alloc_map.add(bit)
        cm.allocated += 1
        cm.available -= 1
        self.total += 1
        self.gavl = (self.gavl - 1) % M32
        if reserved:
            self.gres -= 1
        return bit, best

    def free(self, cpu: int, bit: int, managed: bool) -> None:
        self._check_cpu(cpu)
        cm = self.cm[cpu]
        if not self.start <= bit < self.end or bit not in cm.alloc_map:
            raise _Misuse
        if (bit in cm.managed_map) != managed:
            raise _Misuse
        cm.alloc_map.discard(bit)
        cm.allocated -= 1
        if managed:
            cm.managed_allocated -= 1
        if cm.online:
            self.total -= 1
        if not managed:
            cm.available = (cm.available + 1) % M32
            if cm.online:
                self.gavl = (self.gavl + 1) % M32

    def available(self, cpu: int | None) -> int:
        if cpu is None:
            return self.gavl
        self._check_cpu(cpu)
        if not self.cm[cpu].online:
            raise _Misuse
        return (self.gavl - self.cm[cpu].available) % M32

    def allocated(self, cpu: int) -> int:
        self._check_cpu(cpu)
        return self.cm[cpu].allocated - self.cm[cpu].managed_allocated


def _mask_form(cpus: list[int], ncpus: int, form: int) -> Any:
    """The same CPU set in one of the accepted argument forms."""
    if form == 1:
        return set(cpus)
    if form == 2 and all(0 <= c < ncpus for c in cpus):
        mask = np.zeros(ncpus, dtype=bool)
        mask[cpus] = True
        return mask
    if form == 3:
        return np.array(cpus, dtype=np.int64)
    if form == 4 and cpus and sorted(set(cpus)) == list(range(min(cpus), max(cpus) + 1)):
        return range(min(cpus), max(cpus) + 1)
    return list(cpus)


class MatrixMachine(RuleBasedStateMachine):
    """Drives IrqMatrix and RefMatrix side by side; every rule may be an invalid call."""

    m: IrqMatrix
    ref: RefMatrix

    @initialize(
        ncpus=st.sampled_from([1, 2, 3, 3, 4, 4]),
        bits=st.integers(16, 32),
        start=st.integers(0, 8),
        size=st.integers(-1, 6).map(lambda x: max(x, 0)),
        system=st.lists(st.integers(0, 15), max_size=3),
        up=st.lists(st.booleans(), min_size=4, max_size=4),
        bulk=st.booleans(),
    )
    def setup(
        self, ncpus: int, bits: int, start: int, size: int, system: list[int], up: list[bool], bulk: bool
    ) -> None:
        end = min(bits, start + size)
        self.m = IrqMatrix(bits, start, end, ncpus)
        self.ref = RefMatrix(bits, start, end, ncpus)
        self.handed: set[tuple[int, int]] = set()  # (cpu, bit) handed out by alloc/alloc_managed/assign
        self.offline_frees = 0
        for bit in system:  # as at boot: system vectors first, then CPUs come online
            self.step(
                "assign_system",
                partial(self.m.assign_system, bit, False),
                partial(self.ref.assign_system, bit, False),
            )
        boot = [cpu for cpu in range(ncpus) if up[cpu] or cpu == 0]
        if bulk:  # as VectorLayout.new_matrix brings the CPUs up
            self.step("online_many", partial(self.m.online_many, boot), partial(self.ref.online_many, boot))
        for cpu in [] if bulk else boot:
            self.step("online", partial(self.m.online, cpu), partial(self.ref.online, cpu))

    # ------------------------------------------------------------ the differential step

    def step(self, name: str, model_call: Callable[[], Any], ref_call: Callable[[], Any]) -> Any:
        before = self.m.copy()
        self.ref.warned = False
        m_out: Any = None
        m_exc: Exception | None = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                m_out = model_call()
            except (MatrixError, ValidationError) as exc:
                m_exc = exc
        r_out: Any = None
        r_exc: Exception | None = None
        try:
            r_out = ref_call()
        except (_Misuse, _Fail, ValidationError) as exc:
            r_exc = exc
        model_warned = any(issubclass(w.category, MatrixWarning) for w in caught)
        assert model_warned == self.ref.warned, (name, [str(w.message) for w in caught])
        if r_exc is None:
            assert m_exc is None, (name, m_exc)
            assert m_out == r_out, (name, m_out, r_out)
        elif isinstance(r_exc, _Misuse):
            assert isinstance(m_exc, MatrixMisuse), (name, m_exc)
        elif isinstance(r_exc, _Fail):
            assert type(m_exc) is MatrixError, (name, m_exc)
            assert m_exc.errno == r_exc.errno, (name, m_exc)
        else:
            assert isinstance(m_exc, ValidationError), (name, m_exc)
        if m_exc is not None:
            assert str(m_exc)
            if name == "reserve_managed" and isinstance(r_exc, _Fail):
                # the kernel's rollback restores the counters, not necessarily the same managed bits
                for cpu in range(self.m.ncpus):
                    assert self.m.cpu_managed(cpu) == before.cpu_managed(cpu)
                    assert self.m.cpu_available(cpu) == before.cpu_available(cpu)
                assert self.m.global_available == before.global_available
            else:
                assert self.m == before, f"{name} raised {m_exc!r} but changed the matrix"
        self.compare_with_ref()
        return m_out

    def compare_with_ref(self) -> None:
        m, ref = self.m, self.ref
        assert (m.global_available, m.global_reserved, m.systembits_inalloc) == (
            ref.gavl,
            ref.gres,
            ref.sysin,
        )
        assert (m.total_allocated, m.online_maps) == (ref.total % M32, ref.online_maps)
        assert m.system_bits() == sorted(ref.system)
        for cpu, cm in enumerate(ref.cm):
            assert m.is_online(cpu) == cm.online
            assert m.cpu_available(cpu) == cm.available % M32
            assert m.cpu_allocated(cpu) == cm.allocated
            assert m.cpu_managed(cpu) == cm.managed
            assert m.cpu_managed_allocated(cpu) == cm.managed_allocated
            assert m.alloc_bits(cpu) == sorted(cm.alloc_map)
            assert m.managed_bits(cpu) == sorted(cm.managed_map)

    # ------------------------------------------------------------ strategies inside rules

    def cpu(self, data: st.DataObject) -> int:
        n = self.m.ncpus
        if data.draw(st.integers(0, 19), label="bad cpu") == 0:
            return n
        return data.draw(st.integers(0, n - 1), label="cpu")

    def cpus(self, data: st.DataObject) -> tuple[list[int], Any]:
        n = self.m.ncpus
        kind = data.draw(st.integers(0, 9), label="mask kind")
        if kind < 3:
            cpus = list(range(n))
        elif kind == 3:
            cpus = []
        else:
            cpus = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n), label="cpus")
            if kind == 4:
                cpus.append(n)
        form = data.draw(st.integers(0, 4), label="form")
        return cpus, _mask_form(cpus, n, form)

    def bit(self, data: st.DataObject) -> int:
        return data.draw(st.integers(0, self.m.matrix_bits), label="bit")

    # ------------------------------------------------------------ rules: every operation

    @rule(data=st.data())
    def online(self, data: st.DataObject) -> None:
        down = [c for c in range(self.m.ncpus) if not self.m.is_online(c)]
        cpu = self.cpu(data) if not down or data.draw(st.booleans()) else data.draw(st.sampled_from(down))
        self.step("online", lambda: self.m.online(cpu), lambda: self.ref.online(cpu))

    @rule(data=st.data())
    def online_many(self, data: st.DataObject) -> None:
        n = self.m.ncpus
        down = [c for c in range(n) if not self.m.is_online(c)]
        if down and data.draw(st.integers(0, 3), label="valid list") > 0:
            cpus = data.draw(st.permutations(down), label="order")[: data.draw(st.integers(0, len(down)))]
            if cpus and data.draw(st.integers(0, 3), label="repeat one") == 0:
                cpus.append(data.draw(st.sampled_from(cpus)))
        else:  # anything: out of range, online, repeated
            cpus = data.draw(st.lists(st.integers(0, n), max_size=2 * n), label="cpus")
        self.step("online_many", lambda: self.m.online_many(cpus), lambda: self.ref.online_many(cpus))

    @rule(data=st.data())
    def offline(self, data: st.DataObject) -> None:
        up = self.m.online_cpus()
        cpu = self.cpu(data) if not up or data.draw(st.booleans()) else data.draw(st.sampled_from(up))
        self.step("offline", lambda: self.m.offline(cpu), lambda: self.ref.offline(cpu))

    @rule(data=st.data(), replace=st.booleans())
    def assign_system(self, data: st.DataObject, replace: bool) -> None:
        bit = self.bit(data)
        if replace and self.m.online_maps == 1 and data.draw(st.booleans(), label="existing"):
            this = self.m.online_cpus()[0]
            bits = self.m.alloc_bits(this)
            if bits:
                bit = data.draw(st.sampled_from(bits), label="allocated bit")
        online = self.m.online_cpus()
        this = online[0] if online else 0
        was_allocated = bit in self.m.alloc_bits(this)
        before = set(self.m.system_bits())
        self.step(
            "assign_system",
            lambda: self.m.assign_system(bit, replace),
            lambda: self.ref.assign_system(bit, replace),
        )
        if set(self.m.system_bits()) != before and replace and was_allocated:
            self.handed.discard((this, bit))

    @rule(data=st.data())
    def reserve_managed(self, data: st.DataObject) -> None:
        cpus, arg = self.cpus(data)
        self.step(
            "reserve_managed", lambda: self.m.reserve_managed(arg), lambda: self.ref.reserve_managed(cpus)
        )

    @rule(data=st.data())
    def remove_managed(self, data: st.DataObject) -> None:
        cpus, arg = self.cpus(data)
        self.step("remove_managed", lambda: self.m.remove_managed(arg), lambda: self.ref.remove_managed(cpus))

    @rule(data=st.data())
    def alloc_managed(self, data: st.DataObject) -> None:
        cpus, arg = self.cpus(data)
        before = self.m.copy()
        out = self.step(
            "alloc_managed", lambda: self.m.alloc_managed(arg), lambda: self.ref.alloc_managed(cpus)
        )
        if out is not None:
            bit, cpu = out
            assert cpu in cpus and before.is_online(cpu)
            # managed reservations honoured: only a reserved, not yet allocated managed bit
            assert bit in before.managed_bits(cpu) and bit not in before.alloc_bits(cpu)
            assert (cpu, bit) not in self.handed
            self.handed.add((cpu, bit))

    @rule(data=st.data())
    def assign(self, data: st.DataObject) -> None:
        cpu, bit = self.cpu(data), self.bit(data)
        self.step("assign", lambda: self.m.assign(cpu, bit), lambda: self.ref.assign(cpu, bit))
        if 0 <= cpu < self.m.ncpus and bit in self.m.alloc_bits(cpu):
            self.handed.add((cpu, bit))

    @rule(add=st.booleans())
    def reserve_or_remove_reserved(self, add: bool) -> None:
        if add:
            self.step("reserve", self.m.reserve, self.ref.reserve)
        else:
            self.step("remove_reserved", self.m.remove_reserved, self.ref.remove_reserved)

    @rule(data=st.data(), reserved=st.booleans())
    def alloc(self, data: st.DataObject, reserved: bool) -> None:
        cpus, arg = self.cpus(data)
        before = self.m.copy()
        out = self.step("alloc", lambda: self.m.alloc(arg, reserved), lambda: self.ref.alloc(cpus, reserved))
        if out is not None:
            bit, cpu = out
            assert cpu in cpus and before.is_online(cpu)
            assert before.alloc_start <= bit < before.alloc_end
            assert bit not in before.system_bits()  # system bits never handed out
            assert bit not in before.managed_bits(cpu)  # managed reservations honoured
            assert (cpu, bit) not in self.handed  # no bit handed out twice on a CPU
            self.handed.add((cpu, bit))

    @rule(data=st.data())
    def fill_cpu(self, data: st.DataObject) -> None:
        """alloc on one CPU until it fails: exhaustion (and reserve_managed rollback) become common."""
        cpu = data.draw(st.integers(0, self.m.ncpus - 1), label="fill cpu")
        for _ in range(self.m.alloc_size + 1):
            before = self.m.copy()
            out = self.step("alloc", lambda: self.m.alloc([cpu], False), lambda: self.ref.alloc([cpu], False))
            if out is None:
                break
            assert out[1] == cpu and out[0] not in before.alloc_bits(cpu) + before.managed_bits(cpu)
            assert out[0] not in before.system_bits()
            self.handed.add((cpu, out[0]))

    @rule(data=st.data())
    def free_handed_out(self, data: st.DataObject) -> None:
        if not self.handed:
            return
        cpu, bit = data.draw(st.sampled_from(sorted(self.handed)), label="handed")
        managed = bit in self.m.managed_bits(cpu)
        if data.draw(st.integers(0, 9), label="wrong flag") == 0:
            managed = not managed
        was_online = self.m.is_online(cpu)
        self.step("free", lambda: self.m.free(cpu, bit, managed), lambda: self.ref.free(cpu, bit, managed))
        if bit not in self.m.alloc_bits(cpu):
            self.handed.discard((cpu, bit))
            if not was_online:
                self.offline_frees += 1

    @rule(data=st.data(), managed=st.booleans())
    def free_anything(self, data: st.DataObject, managed: bool) -> None:
        cpu, bit = self.cpu(data), self.bit(data)
        was = 0 <= cpu < self.m.ncpus and bit in self.m.alloc_bits(cpu)
        was_online = was and self.m.is_online(cpu)
        self.step("free", lambda: self.m.free(cpu, bit, managed), lambda: self.ref.free(cpu, bit, managed))
        if was and bit not in self.m.alloc_bits(cpu):
            self.handed.discard((cpu, bit))
            if not was_online:
                self.offline_frees += 1

    @rule(data=st.data())
    def queries(self, data: st.DataObject) -> None:
        cpu = self.cpu(data)
        down = cpu if data.draw(st.booleans(), label="cpudown") else None
        self.step("available", lambda: self.m.available(down), lambda: self.ref.available(down))
        self.step("allocated", lambda: self.m.allocated(cpu), lambda: self.ref.allocated(cpu))
        assert self.m.reserved() == self.m.global_reserved
        assert self.m.debug_show().count("\n") == 6 + self.m.online_maps

    # ------------------------------------------------------------ kernel invariants

    @invariant()
    def counters_agree_with_bitmaps(self) -> None:
        if not hasattr(self, "m"):
            return
        m = self.m
        for cpu in range(m.ncpus):
            alloc, managed = m.alloc_map(cpu), m.managed_map(cpu)
            assert m.cpu_allocated(cpu) == alloc.bit_count()
            assert m.cpu_managed(cpu) == managed.bit_count()
            assert m.cpu_managed_allocated(cpu) == (alloc & managed).bit_count()
            assert m.allocated(cpu) == m.cpu_allocated(cpu) - m.cpu_managed_allocated(cpu)
            assert all(m.alloc_start <= b < m.alloc_end for b in m.alloc_bits(cpu))
            assert all(m.alloc_start <= b < m.alloc_end for b in m.managed_bits(cpu))
            assert m.cpu_managed(cpu) >= m.cpu_managed_allocated(cpu) >= 0

    @invariant()
    def global_counters(self) -> None:
        if not hasattr(self, "m"):
            return
        m = self.m
        online = m.online_cpus()
        assert m.online_maps == len(online)
        assert m.global_available == sum(m.cpu_available(c) for c in online) % M32
        # total_allocated only moves down on free while the CPU is online (kernel rule)
        allocated = sum(m.cpu_allocated(c) for c in range(m.ncpus))
        assert m.total_allocated == allocated + self.offline_frees
        assert m.systembits_inalloc == sum(1 for b in m.system_bits() if m.alloc_start <= b < m.alloc_end)
        assert m.global_reserved >= 0

    @invariant()
    def handed_out_bits_are_exactly_the_alloc_maps(self) -> None:
        if not hasattr(self, "m"):
            return
        for cpu in range(self.m.ncpus):
            assert sorted(b for c, b in self.handed if c == cpu) == self.m.alloc_bits(cpu)


MatrixMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=35,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestMatrixMachine = MatrixMachine.TestCase
