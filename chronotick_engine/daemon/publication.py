"""Publication: what one tick of the publish loop writes, and the rule for when to rebuild it.

The publish loop runs 100-1000 times a second while the model changes every few seconds, so it
republishes a cached base snapshot with fresh heartbeat fields, and rebuilds that base only when an
input changed or the status may have turned with time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace

import numpy as np

from chronotick_engine.measure.hard_bound import HardInterval, published_interval
from chronotick_engine.model.base import ClockEstimate
from chronotick_engine.protocol.codec import Flag, Snapshot, Source, Status, empty_snapshot
from chronotick_engine.protocol.detail import PublishDetail
from chronotick_engine.protocol.native_heartbeat import HeartbeatStats

PERIOD_RING = 1024  # publish periods kept for the jitter percentile


@dataclass
class PublishStats:
    count: int = 0
    rate_hz: float = 0.0
    mean_period_ns: float = 0.0
    latency_ms: float = 0.0
    last_ns: int = 0
    # |actual - nominal| publish period of the last PERIOD_RING ticks, a ring the publish loop writes
    # without locking (a list copy is one call under the GIL, unlike iterating a deque; a list
    # store is cheaper than a numpy one on the cold cache of each wake-up).
    period_errors_ms: list[float] = field(default_factory=lambda: [math.nan] * PERIOD_RING)
    periods: int = 0
    # The C heartbeat thread's ring, while it publishes (publish_loop.py): read when asked for.
    errors_from: Callable[[], list[float]] | None = None
    scheduling: str | None = None  # the C heartbeat thread's, as it got it

    def add_period_error(self, ms: float) -> None:
        self.period_errors_ms[self.periods % PERIOD_RING] = ms
        self.periods += 1

    def follow(self, native: HeartbeatStats) -> None:
        """Take the C heartbeat thread's counters (its ring stays with it: errors_from)."""
        self.count, self.rate_hz, self.mean_period_ns, self.latency_ms, self.last_ns, self.periods = native

    def jitter_p99_ms(self) -> float | None:
        errs = np.array(self.errors_from() if self.errors_from is not None else self.period_errors_ms[:])
        errs = errs[np.isfinite(errs)]
        return round(float(np.percentile(errs, 99)), 4) if errs.size else None

    def detail(self) -> PublishDetail:
        return PublishDetail(
            count=self.count,
            rate_hz=round(self.rate_hz, 3),
            latency_ms=round(self.latency_ms, 4),
            period_error_p99_ms=self.jitter_p99_ms(),
            writer="python" if self.errors_from is None else "c",
            scheduling=self.scheduling if self.errors_from is not None else None,
        )


def build_snapshot(
    now_ns: int,
    *,
    status: Status,
    flags: Flag,
    est: ClockEstimate | None,
    inherited: Snapshot | None,
    real_minus_mono_ns: int,
    last_ntp_ns: int,
    samples: int,
    start_ns: int,
    void_after_ns: int,
    stats: PublishStats,
) -> Snapshot:
    """The snapshot to publish at `now_ns`: this daemon's estimate, else an inherited one (its own
    void and last-NTP times, this daemon's heartbeat), else no estimate."""
    common = dict(
        generation=0,
        status=status,
        flags=flags,
        void_after_mono_ns=now_ns + void_after_ns,
        last_publish_mono_ns=now_ns,
        last_ntp_mono_ns=last_ntp_ns,
        daemon_start_mono_ns=start_ns,
        publish_count=stats.count,
        sample_count=samples,
        publish_rate_hz=stats.rate_hz,
        avg_latency_ms=stats.latency_ms,
    )
    if est is None and inherited is not None:
        del common["void_after_mono_ns"], common["last_ntp_mono_ns"]
        return replace(inherited, seq=0, **common)
    if est is None:
        return replace(empty_snapshot(0, now_ns, now_ns + real_minus_mono_ns), **common)
    anchor = int(est.anchor_t * 1e9)
    return Snapshot(
        source=Source.FUSED if est.fused else Source.CLASSICAL,
        anchor_mono_ns=anchor,
        anchor_real_ns=anchor + real_minus_mono_ns,
        offset_s=est.offset_s,
        drift=est.drift,
        offset_unc_s=est.offset_unc_s,
        drift_unc=est.drift_unc,
        max_drift_rate=est.max_drift_rate,
        confidence=est.confidence,
        **common,
    )


def hard_interval_now(
    hard: HardInterval | None, est: ClockEstimate | None, t_ns: int, margin_s: float = 0.0
) -> tuple[float, float] | None:
    """The worst-case interval of true time - CLOCK_REALTIME at `t_ns`, holding the 95% one (widened
    by `margin_s`); None until both a hard interval and an estimate exist."""
    if est is None:
        return None
    t = t_ns / 1e9
    return published_interval(hard, est.offset_at(t), est.halfwidth_at(t) + margin_s, t_ns)


class HeartbeatBase:
    """The base snapshot of each tick, rebuilt only when its key changes or its time is up."""

    def __init__(self, void_after_ns: int):
        self._void_after_ns = void_after_ns
        self._base: Snapshot | None = None
        self._key: tuple[Hashable, ...] = ()
        self._until_ns = 0
        self._fixed_void_ns: int | None = None  # an inherited model's own; None: now + void

    @property
    def until_ns(self) -> int:
        """When the base's status may turn with time (<= its build time: rebuild every tick)."""
        return self._until_ns

    @property
    def fixed_void_ns(self) -> int | None:
        """An inherited model's own void time; None: each tick's instant + void_after_ns."""
        return self._fixed_void_ns

    @property
    def void_after_ns(self) -> int:
        return self._void_after_ns

    def current(self, now_ns: int, key: tuple[Hashable, ...]) -> tuple[Snapshot, int] | None:
        """(the base, this tick's void time) while `key` is unchanged and the base's time is not up;
        None when it must be rebuilt. The publish loop's hot path: a tuple compare and no call."""
        base = self._base
        if base is None or now_ns >= self._until_ns or key != self._key:
            return None
        fixed = self._fixed_void_ns
        return base, now_ns + self._void_after_ns if fixed is None else fixed

    def rebuild(
        self, now_ns: int, key: tuple[Hashable, ...], base: Snapshot, own_estimate: bool, silence_ends_ns: int
    ) -> tuple[Snapshot, int]:
        """Adopt `base` (snapshot(now)) for `key`, until its status may turn with time."""
        self._fixed_void_ns = None
        if base.source is Source.NONE:
            until = now_ns  # its anchor is "now": rebuild every tick until there is a model
        elif not own_estimate:
            until = self._fixed_void_ns = base.void_after_mono_ns  # inherited: until it is void
        elif base.status in (Status.SYNCHRONIZED, Status.WARMING_UP):
            until = silence_ends_ns
        else:
            until = 1 << 62  # FREE_RUNNING or DISRUPTED end only with a new input
        self._base, self._key, self._until_ns = base, key, until
        fixed = self._fixed_void_ns
        return base, now_ns + self._void_after_ns if fixed is None else fixed
