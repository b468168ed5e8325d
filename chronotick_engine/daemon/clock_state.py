"""The daemon's status machine, after ClockBound's clock_state_fsm.

    WARMING_UP ──(min_samples accepted)──> SYNCHRONIZED <──(a sample within the silence limit)
        │                                     │    ^                      │
        │ (a predecessor's model inherited)   │    └──(RESYNC_SAMPLES)── DISRUPTED <─(clock step)
        v                                     v
    FREE_RUNNING <──────(silence limit passed without an accepted sample)

The daemon publishes what `status()` decides; clients derive their own from its freshness on top
(`client.effective_status`), so a dead daemon is never read as SYNCHRONIZED.
"""

from __future__ import annotations

import logging

from chronotick_engine.config import ChronoTickConfig
from chronotick_engine.measure.ntp import ClockSource, Exchange
from chronotick_engine.model.base import ClockEstimate
from chronotick_engine.protocol.codec import Snapshot, Source, Status

log = logging.getLogger("chronotick.daemon")

STEP_THRESHOLD_NS = 1_000_000  # realtime vs monotonic disagreement that counts as a clock step
CLOCK_READ_WINDOW_NS = 200_000  # a realtime read bracketed by monotonic reads closer than this is trusted
TRACK_WINDOW_NS = 2_000  # a reading this precise may move the published realtime - monotonic
TRACK_MIN_NS = 1_000  # by at least this much (each move rebuilds the published base)
WANDER_DECAY = 0.9995  # per tick: at 100 Hz the largest recent wander is forgotten over ~20 s
RESYNC_SAMPLES = 2  # accepted samples after a step before DISRUPTED clears


class ClockState:
    """What the status depends on, and the transitions between statuses. Not locked: the daemon
    calls it under its own lock wherever the measurement and publish threads could race."""

    def __init__(self, cfg: ChronoTickConfig, clock: ClockSource):
        self.cfg = cfg
        self.clock = clock
        self.last_sample_ns = 0
        self.samples_since_step = 0
        self.disrupted = False
        self.inherited: Snapshot | None = None
        self.real_minus_mono = self.read_real_minus_mono()
        self.realtime_wander_ns = 0

    # the system clock ------------------------------------------------------------------------------

    def _bracket(self) -> tuple[int, int, int]:
        """(monotonic, realtime, monotonic): one realtime read between two monotonic ones."""
        c = self.clock
        return c.monotonic_ns(), c.realtime_ns(), c.monotonic_ns()

    def read_real_minus_mono(self) -> int | None:
        """CLOCK_REALTIME - CLOCK_MONOTONIC, or None when preemption made the reading unreliable."""
        m1, r, m2 = self._bracket()
        if m2 - m1 > CLOCK_READ_WINDOW_NS:
            return None
        return r - (m1 + m2) // 2

    def detect_step(self) -> tuple[int, int] | None:
        """(step in ns, the new realtime - monotonic) when the system clock was stepped, else None.

        Smaller moves are followed, from a reading precise to TRACK_WINDOW_NS: a guest agent or
        adjtime can move CLOCK_REALTIME against CLOCK_MONOTONIC by microseconds a second, and the
        published anchor must keep relating the two as they are now. Otherwise a reader's time
        (monotonic + that relation + the model's offset to CLOCK_REALTIME) drifts from the model's
        own by that much."""
        m1, r, m2 = self._bracket()
        if m2 - m1 > TRACK_WINDOW_NS:
            # The publish loop wakes from sleep on a cold cache, where three clock reads take
            # microseconds; read again, warm, and keep the tighter bracket.
            m1b, rb, m2b = self._bracket()
            if m2b - m1b < m2 - m1:
                m1, r, m2 = m1b, rb, m2b
        if m2 - m1 > CLOCK_READ_WINDOW_NS or self.real_minus_mono is None:
            if self.real_minus_mono is None and m2 - m1 <= CLOCK_READ_WINDOW_NS:
                self.real_minus_mono = r - (m1 + m2) // 2
            return None
        rm = r - (m1 + m2) // 2
        step = rm - self.real_minus_mono
        if abs(step) <= STEP_THRESHOLD_NS:
            if m2 - m1 <= TRACK_WINDOW_NS:
                # How far CLOCK_REALTIME wanders from the followed relation between two ticks: a
                # bound about CLOCK_REALTIME itself (ClockBound's) must allow for it.
                self.realtime_wander_ns = max(
                    abs(step) + (m2 - m1), int(self.realtime_wander_ns * WANDER_DECAY)
                )
                if abs(step) >= TRACK_MIN_NS:
                    self.real_minus_mono = rm
            return None
        return step, rm

    def stepped(self, real_minus_mono: int) -> None:
        """The clock was stepped: DISRUPTED until RESYNC_SAMPLES samples are accepted."""
        self.real_minus_mono = real_minus_mono
        self.disrupted = True
        self.samples_since_step = 0

    def brackets_step(self, ex: Exchange) -> bool:
        """A reply whose own clock readings disagree with ours: a step happened during it."""
        return (
            self.real_minus_mono is not None
            and abs(ex.real_minus_mono_ns - self.real_minus_mono) > STEP_THRESHOLD_NS
        )

    # samples ---------------------------------------------------------------------------------------

    def sample_accepted(self, t_ns: int) -> None:
        self.last_sample_ns = t_ns
        self.samples_since_step += 1
        if self.disrupted and self.samples_since_step >= RESYNC_SAMPLES:
            self.disrupted = False
            log.info("re-synchronised after the clock step")

    def silence_limit_s(self, interval_s: float) -> float:
        """How long without an accepted sample before SYNCHRONIZED turns FREE_RUNNING."""
        ntp = self.cfg.clock_measurement.ntp
        # A round lasts up to one timeout per try, on top of the wait between rounds.
        return self.cfg.daemon.free_running_after_intervals * (
            interval_s + ntp.timeout_seconds * (ntp.retries + 1)
        )

    # the status ------------------------------------------------------------------------------------

    def status(
        self,
        now_ns: int,
        est: ClockEstimate | None,
        disrupted: bool,
        last_ns: int,
        accepted: int,
        interval_s: float,
    ) -> Status:
        """The status at `now_ns`, from the inputs the caller read under its lock."""
        if disrupted:
            return Status.DISRUPTED
        if est is None:
            return Status.FREE_RUNNING if self.inherited_at(now_ns) else Status.WARMING_UP
        if (now_ns - last_ns) / 1e9 > self.silence_limit_s(interval_s):
            return Status.FREE_RUNNING
        if accepted < self.cfg.estimator.min_samples:
            return Status.WARMING_UP
        return Status.SYNCHRONIZED

    # inheritance from a predecessor ----------------------------------------------------------------

    def may_inherit(self, previous: Snapshot | None, now_ns: int) -> bool:
        """Whether a previous daemon's estimate may be served, as FREE_RUNNING, until this one has
        its own.

        A supervisor restart on the same segment would otherwise replace a usable model with
        "no estimate" for the length of the first NTP round, and clients would raise. The old model
        is taken only from a daemon that vouched for it (SYNCHRONIZED or FREE_RUNNING, not
        DISRUPTED or warming up), while it is within its own void time, and from this boot
        (CLOCK_REALTIME - CLOCK_MONOTONIC unchanged: a reboot or a clock step while no daemon ran
        breaks that). It keeps its own void time and last-NTP time, so its bounds go on widening
        honestly.
        """
        rm = self.real_minus_mono
        for _ in range(5):  # a preempted first reading must not cost the whole inheritance
            if rm is not None:
                break
            rm = self.read_real_minus_mono()
        return not (
            previous is None
            or previous.source is Source.NONE
            or previous.status not in (Status.SYNCHRONIZED, Status.FREE_RUNNING)
            or rm is None
            or not previous.last_publish_mono_ns <= now_ns < previous.void_after_mono_ns
            or abs(previous.anchor_real_ns - previous.anchor_mono_ns - rm) > STEP_THRESHOLD_NS
        )

    def inherited_at(self, now_ns: int) -> Snapshot | None:
        prev = self.inherited
        return prev if prev is not None and now_ns < prev.void_after_mono_ns else None
