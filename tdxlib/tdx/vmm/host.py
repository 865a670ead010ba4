"""A host VMM driven by a profile: the registration, the requests in flight, statuses and notifications.

:class:`Vmm` answers SetupEventNotifyInterrupt and GetQuote as its :class:`VmmProfile` says; the
simulator (``tdxlib.sim``) asks it for statuses, service times, outcomes and notifications, and applies
the offline-at-injection rule (``offline_target``) itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from tdxlib.errors import ValidationError
from tdxlib.tdx.ghci.calls import (
    GetQuote,
    SetupEventNotifyInterrupt,
    explain_get_quote,
    explain_setup_event_notify,
)
from tdxlib.tdx.ghci.facts import constants
from tdxlib.tdx.vmm.profile import VmmProfile

__all__ = ["Service", "Vmm"]


class Service(NamedTuple):
    """One quote-service answer: when (ms after the request; None = never) and with what header status."""

    time_ms: float | None
    outcome: int


class Vmm:
    """A host VMM driven by a profile: registration, request statuses, service, notifications.

    ``apic_ids`` (all present vCPUs, online or not) is needed for target ``any`` and for APIC-ID
    validation; without it ``any`` falls back to the online vCPUs passed to ``notification``.
    """

    def __init__(
        self,
        profile: VmmProfile,
        rng: np.random.Generator,
        *,
        apic_ids: Sequence[int] | None = None,
        shared_bit: int | None = None,
    ) -> None:
        if not isinstance(profile, VmmProfile):
            raise ValidationError("profile", type(profile).__name__, "a VmmProfile (see load_profile)")
        if not isinstance(rng, np.random.Generator):
            raise ValidationError("rng", type(rng).__name__, "a numpy.random.Generator (default_rng(seed))")
        self.profile = profile
        self.rng = rng
        self.apic_ids: tuple[int, ...] | None = tuple(apic_ids) if apic_ids is not None else None
        #: The GPA bit of shared memory the VMM checks (default: data/ghci's, bit 51).
        self.shared_bit: int = constants().SHARED_BIT_DEFAULT if shared_bit is None else shared_bit
        #: The registration, as QEMU keeps it: unset (None) until a valid call, overwritten by later ones.
        self.registered_vector: int | None = None
        self.registered_apic_id: int | None = None
        #: GetQuote requests queued and not yet completed (completion = a ``notification`` call).
        self.in_flight = 0
        #: What the VMM wrote in the buffer header on the last accepted GetQuote (IN_FLIGHT or
        #: SERVICE_UNAVAILABLE), None when the call was rejected.
        self.last_header_status: int | None = None
        self._timed_out = False

    def reset(self) -> None:
        """Guest reset as QEMU 11.0 does it: nothing in flight, but the registration survives.

        QEMU sets the vector and APIC ID to -1 only in ``tdx_guest_init()`` (the object's instance init);
        neither reset path (``tdx_handle_reset()``, ``set_tdx_vm_uninitialized()``) clears them in the
        patches read (Ani Sinha's series, v1..v4; the merged 11.0 code is UNVERIFIED), so a vector the
        previous boot registered is injected on the next completion. QEMU 10.x cannot reset a TD at all
        (it terminates it). See data/vmm/qemu-10.1.yaml.
        """
        self.in_flight = 0
        self.last_header_status = None

    def _known(self, known_apic_ids: Sequence[int] | None) -> Sequence[int] | None:
        if not self.profile.validates_apic_id:
            return None
        return known_apic_ids if known_apic_ids is not None else self.apic_ids

    def setup_event_notify_interrupt(
        self,
        call: SetupEventNotifyInterrupt,
        caller_apic_id: int,
        *,
        known_apic_ids: Sequence[int] | None = None,
    ) -> int:
        """Handle SetupEventNotifyInterrupt from vCPU ``caller_apic_id``; returns the TDVMCALL status.

        On SUCCESS the vector and an APIC ID are recorded *now*: the caller's (QEMU), or the call's
        APIC-ID argument for ``apic-id-arg`` profiles (the caller's when the guest gives none).
        """
        p = self.profile
        if not p.supports_setup_event_notify:
            # KVM range-checks the vector before it exits to user space (4580dbef5ce0): out of range is
            # INVALID_OPERAND even where user space would not have handled the call
            c = constants()
            in_range = c.EVENT_NOTIFY_VECTOR_MIN <= call.vector <= c.EVENT_NOTIFY_VECTOR_MAX
            if p.validates_vector and not in_range:
                return c.TDVMCALL_STATUS_INVALID_OPERAND
            return c.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED
        takes_apic = p.target == "apic-id-arg"
        check = explain_setup_event_notify(
            call if takes_apic else SetupEventNotifyInterrupt(call.vector),
            known_apic_ids=self._known(known_apic_ids),
            validate_vector=p.validates_vector,
        )
        if not check.ok:
            return check.status
        self.registered_vector = call.vector
        self.registered_apic_id = call.apic_id if takes_apic and call.apic_id is not None else caller_apic_id
        return constants().TDVMCALL_STATUS_SUCCESS

    def get_quote(
        self,
        call: GetQuote,
        caller_apic_id: int,
        buffer: bytes | None = None,
        *,
        known_apic_ids: Sequence[int] | None = None,
    ) -> int:
        """Handle GetQuote from vCPU ``caller_apic_id``; returns the TDVMCALL status at the boundary.

        Order as QEMU: argument checks, then no quote service -> SUCCESS with the header status
        SERVICE_UNAVAILABLE at once, then ``max_in_flight`` reached -> RETRY, else queued (SUCCESS,
        header IN_FLIGHT). ``last_header_status`` tells which.
        """
        p = self.profile
        k = constants()
        self.last_header_status = None
        if not p.supports_get_quote:
            return k.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED
        check = explain_get_quote(
            call, buffer, shared_bit=self.shared_bit, level=p.get_quote_checks, leak_guard=p.leak_guard
        )
        if not check.ok:
            return check.status
        if p.target == "getquote-arg":
            extra = explain_setup_event_notify(
                SetupEventNotifyInterrupt(call.vector if call.vector is not None else 32, call.apic_id),
                known_apic_ids=self._known(known_apic_ids),
                validate_vector=p.validates_vector and call.vector is not None,
            )
            if not extra.ok:
                return extra.status
        if not p.quote_service:
            self.last_header_status = k.GET_QUOTE_SERVICE_UNAVAILABLE
            return k.TDVMCALL_STATUS_SUCCESS
        if p.max_in_flight is not None and self.in_flight >= p.max_in_flight:
            return k.TDVMCALL_STATUS_RETRY
        self.in_flight += 1
        self.last_header_status = k.GET_QUOTE_IN_FLIGHT
        return k.TDVMCALL_STATUS_SUCCESS

    def service_time_ms(self) -> float | None:
        """Sample when the queued request completes (ms after GetQuote); None = never answers.

        A profile with ``service_timeout_ms`` completes at the timeout instead, and the next
        ``service_outcome()`` is then GET_QUOTE_ERROR (QEMU's 30 s transaction timer).
        """
        p = self.profile
        self._timed_out = False
        if not p.quote_service:
            return 0.0
        t = None if p.never_answers else p.service_latency_ms.sample(self.rng)
        if p.service_timeout_ms is not None and (t is None or t > p.service_timeout_ms):
            self._timed_out = True
            return p.service_timeout_ms
        return t

    def service_outcome(self) -> int:
        """The header status the request completes with (GET_QUOTE_SUCCESS / _ERROR / ...)."""
        p = self.profile
        k = constants()
        if not p.quote_service:
            return k.GET_QUOTE_SERVICE_UNAVAILABLE
        if self._timed_out:
            self._timed_out = False
            return k.GET_QUOTE_ERROR
        if p.failure_rate >= 1.0:
            return k.GET_QUOTE_ERROR
        if p.failure_rate > 0.0 and self.rng.random() < p.failure_rate:
            return k.GET_QUOTE_ERROR
        return k.GET_QUOTE_SUCCESS

    def serve(self) -> Service:
        """``service_time_ms()`` and ``service_outcome()`` together."""
        t = self.service_time_ms()
        return Service(t, self.service_outcome())

    def notification(
        self,
        request_caller_apic_id: int,
        online_apic_ids: Sequence[int],
        bsp_apic_id: int,
        call: GetQuote | None = None,
        *,
        all_apic_ids: Sequence[int] | None = None,
    ) -> tuple[int, int] | None:
        """On a request's completion: ``(vector, target APIC ID)`` the VMM injects, or None.

        Call it once per completed request (it also retires the request from ``in_flight``).
        None when: no quote service, ``inject: never``, no vector registered (QEMU), a ``can``
        VMM that skips this one, or no vCPU to pick. The target may be offline: the simulator
        applies ``offline_target``.
        """
        p = self.profile
        self.in_flight = max(0, self.in_flight - 1)
        if not p.quote_service or p.inject == "never":
            return None
        vector = self.registered_vector
        if p.target == "getquote-arg" and call is not None and call.vector is not None:
            vector = call.vector
        if vector is None:
            return None
        if p.inject == "can" and not self.rng.random() < p.inject_probability:
            return None
        target = self._target(request_caller_apic_id, online_apic_ids, bsp_apic_id, call, all_apic_ids)
        return None if target is None else (vector, target)

    def _target(
        self,
        caller: int,
        online: Sequence[int],
        bsp: int,
        call: GetQuote | None,
        all_apic_ids: Sequence[int] | None,
    ) -> int | None:
        t = self.profile.target
        if t == "any":
            pool = all_apic_ids if all_apic_ids is not None else self.apic_ids
            return self._pick(pool if pool is not None else online)
        if t == "random-online":
            return self._pick(online)
        if t == "bsp":
            return bsp
        if t in ("setup-caller", "apic-id-arg"):
            return self.registered_apic_id
        if t == "getquote-caller":
            return caller
        # getquote-arg: the call's APIC ID, else the vCPU that issued GetQuote
        return call.apic_id if call is not None and call.apic_id is not None else caller

    def _pick(self, pool: Sequence[int]) -> int | None:
        if len(pool) == 0:
            return None
        return int(pool[int(self.rng.integers(len(pool)))])
