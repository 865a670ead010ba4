"""The event record of a run: one row per thing that happened, kept as columns while simpy runs and
made into ``Result.events`` (a tidy frame) at the end; a metrics-only run keeps nothing.

Every part of the run (and the notify strategy, through its ``NotifyContext``) writes through the same
:class:`~tdxlib.tdx.strategies.base.Recorder` call, so the frame is in the order things happened.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import simpy

from tdxlib.sim.result import EVENT_KINDS

__all__ = ["EventLog", "NoEventLog"]

_KIND_CODE: dict[str, int] = {k: i for i, k in enumerate(EVENT_KINDS)}
_KIND_DTYPE: pd.CategoricalDtype = pd.CategoricalDtype(list(EVENT_KINDS))


class EventLog:
    """The events of one run, as columns: :meth:`record` appends a row, :meth:`frame` makes the frame."""

    __slots__ = ("_env", "apic", "cpu", "detail", "kind", "qid", "t", "vec")

    def __init__(self, env: simpy.Environment) -> None:
        self._env = env
        self.t: list[float] = []
        self.kind: list[int] = []
        self.qid: list[int | None] = []
        self.cpu: list[int | None] = []
        self.apic: list[int | None] = []
        self.vec: list[int | None] = []
        self.detail: list[str] = []

    def record(
        self,
        kind: str,
        *,
        quote_id: int | None = None,
        cpu: int | None = None,
        apic_id: int | None = None,
        vector: int | None = None,
        detail: str = "",
    ) -> None:
        """One event of ``kind`` (one of EVENT_KINDS) now."""
        self.t.append(self._env.now)
        self.kind.append(_KIND_CODE[kind])
        self.qid.append(quote_id)
        self.cpu.append(cpu)
        self.apic.append(apic_id)
        self.vec.append(vector)
        self.detail.append(detail)

    def frame(self) -> pd.DataFrame:
        """``Result.events``: time_s, kind (a categorical of EVENT_KINDS), quote_id, cpu, apic_id, vector,
        detail."""
        return pd.DataFrame(
            {
                "time_s": np.asarray(self.t, dtype=float),
                "kind": pd.Categorical.from_codes(np.asarray(self.kind, dtype=np.int64), dtype=_KIND_DTYPE),
                "quote_id": pd.array(self.qid, dtype="Int64"),
                "cpu": pd.array(self.cpu, dtype="Int64"),
                "apic_id": pd.array(self.apic, dtype="Int64"),
                "vector": pd.array(self.vec, dtype="Int64"),
                "detail": pd.array(self.detail, dtype="string"),
            }
        )


class NoEventLog:
    """The event record of a metrics-only run: keeps nothing."""

    __slots__ = ()

    def record(
        self,
        kind: str,
        *,
        quote_id: int | None = None,
        cpu: int | None = None,
        apic_id: int | None = None,
        vector: int | None = None,
        detail: str = "",
    ) -> None:
        """Drop the event."""
