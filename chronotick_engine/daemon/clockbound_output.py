"""The optional ClockBound-compatible output: what the publish loop writes into a ClockBound v2
segment (protocol/clockbound.py), at most WRITE_HZ times a second.

ClockBound's clients centre their interval on CLOCK_REALTIME, so the bound is the whole hard
interval's reach from the system clock: |offset| + the hard half-width. They grow it by the max
drift from as-of on, which is how a dead daemon's bound keeps widening without it.
"""

from __future__ import annotations

import math

from chronotick_engine.daemon.publication import hard_interval_now
from chronotick_engine.measure.hard_bound import HardInterval, bound_ns, hull
from chronotick_engine.model.base import ClockEstimate
from chronotick_engine.protocol.clockbound import (
    ClockBoundRecord,
    ClockBoundWriter,
    ClockStatus,
    clock_status,
    coarse_monotonic_ns,
)
from chronotick_engine.protocol.codec import Status

WRITE_HZ = 10  # ClockBound's own daemon updates about once a second; its clients allow 5 s
# ChronoTick's readers place the 95% interval on CLOCK_MONOTONIC through the published relation to
# CLOCK_REALTIME, which the daemon follows to within a few microseconds (clock_state.TRACK_MIN_NS
# plus its reading's bracket). The ClockBound bound covers their interval with that much to spare.
READ_MARGIN_S = 5e-6


class ClockBoundOutput:
    def __init__(self, writer: ClockBoundWriter, void_after_s: float):
        self.writer = writer
        self._void_after_ns = int(void_after_s * 1e9)
        self.next_ns = 0  # the publish loop writes when its clock reaches this
        self.last: ClockBoundRecord | None = None
        self._last_est: ClockEstimate | None = None

    def record(
        self,
        now_ns: int,
        status: Status,
        est: ClockEstimate | None,
        hard: HardInterval | None,
        previous: ClockEstimate | None = None,
        wander_s: float = 0.0,
    ) -> ClockBoundRecord:
        """The record for CLOCK_MONOTONIC `now_ns`: Unknown, with no bound, until both a hard
        interval and an estimate exist. `previous`, the estimate readers of ChronoTick's segment
        may still hold, is covered too, so that no reader sees its 95% interval outside this bound."""
        as_of = coarse_monotonic_ns()  # never after now_ns: a client's growth from it over-covers
        # Both the hard interval and the 95% one are about CLOCK_REALTIME as the model predicts it;
        # CLOCK_REALTIME itself wanders from that by up to `wander_s` between ticks.
        interval = hard_interval_now(hard, est, now_ns, READ_MARGIN_S)
        if interval is None or est is None or hard is None:
            return ClockBoundRecord(as_of, as_of + self._void_after_ns, 0, 0, ClockStatus.UNKNOWN)
        interval = interval[0] - wander_s, interval[1] + wander_s
        rate = abs(est.drift) + max(hard.max_drift, est.drift_unc + est.max_drift_rate)
        if previous is not None and previous is not est:
            t = now_ns / 1e9
            interval = hull(
                interval, previous.offset_at(t), previous.halfwidth_at(t) + READ_MARGIN_S + wander_s
            )
            rate = max(rate, abs(previous.drift) + previous.drift_unc + previous.max_drift_rate)
        return ClockBoundRecord(
            as_of_ns=as_of,
            void_after_ns=as_of + self._void_after_ns,
            bound_ns=bound_ns(interval),
            max_drift_ppb=math.ceil(rate * 1e9),
            status=clock_status(status),
        )

    def write(
        self,
        now_ns: int,
        status: Status,
        est: ClockEstimate | None,
        hard: HardInterval | None,
        wander_s: float = 0.0,
    ) -> None:
        """Write the record for `now_ns`. Called before ChronoTick's own segment takes a new
        estimate, this record also covers the one it replaces."""
        self.last = self.record(now_ns, status, est, hard, self._last_est, wander_s)
        self.writer.write(self.last)
        self._last_est = est
        self.next_ns = now_ns + 1_000_000_000 // WRITE_HZ

    def stopped(
        self, now_ns: int, est: ClockEstimate | None, hard: HardInterval | None, wander_s: float = 0.0
    ) -> None:
        """The last write of a daemon that stops: its bound stands, FreeRunning, and keeps growing."""
        rec = self.record(now_ns, Status.FREE_RUNNING, est, hard, wander_s=wander_s)
        if self.last is None or self.last.status not in (ClockStatus.SYNCHRONIZED, ClockStatus.FREE_RUNNING):
            rec = ClockBoundRecord(rec.as_of_ns, rec.void_after_ns, 0, 0, ClockStatus.UNKNOWN)
        self.writer.write(rec)

    def close(self) -> None:
        self.writer.close()
