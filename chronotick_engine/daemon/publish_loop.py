"""The publish loop: the segment's heartbeat at cfg.daemon.freq_hz, and a ClockBound record at most
10 times a second. Two ways to run it, writing the same images:

- native (where chronotick_engine._heartbeat is built): a C thread republishes the base snapshot
  at the asked rate, without the GIL (protocol/native_heartbeat.py). Python wakes only for what
  needs Python: 4 times a second (10 with a ClockBound segment; never above the publish rate), at
  the instant the base's status may turn, and when the estimate changes. It detects clock steps,
  rebuilds the base and writes the ClockBound record. Waking the interpreter at the publish rate
  was most of the daemon's CPU.
- python: the reference, every tick in Python; with CHRONOTICK_PURE_PYTHON=1 or no C compiler.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chronotick_engine.protocol.codec import Snapshot
from chronotick_engine.protocol.native_heartbeat import NativeHeartbeat
from chronotick_engine.protocol.writer import SnapshotWriter

if TYPE_CHECKING:
    from chronotick_engine.daemon.clockbound_output import ClockBoundOutput
    from chronotick_engine.daemon.daemon import Daemon

SUPERVISE_NS = 250_000_000
# The C thread publishes a base at most this long (or three supervision periods) after Python last
# vouched for it, so that a stuck interpreter (which would miss a clock step) still stops the
# heartbeat, as the Python loop did.
LIVENESS_NS = 1_000_000_000
FOREVER_NS = 1 << 62


def run_native(
    d: Daemon, heart: NativeHeartbeat, clockbound: ClockBoundOutput | None, period_ns: int
) -> None:
    supervise_ns = max(period_ns, SUPERVISE_NS)
    rule = d.heartbeat_rule
    st = d.stats
    st.errors_from = heart.period_errors_ms
    cb_base: Snapshot | None = None
    handed: Snapshot | None = None
    mono = d.clock.monotonic_ns
    while not d.stopping():
        now = mono()
        d.check_clock_step()
        base, _ = d.heartbeat_base(now)
        # Before a new base reaches ChronoTick's segment, so the ClockBound record a reader finds
        # then already covers it (and the one it replaces).
        if clockbound is not None and (base is not cb_base or now >= clockbound.next_ns):
            d.write_clockbound(clockbound, now)
            cb_base = base
        turns = rule.until_ns if rule.until_ns > now else FOREVER_NS
        hold = min(turns, now + max(LIVENESS_NS, 3 * supervise_ns))  # at 1 Hz, past the next tick
        if base is not handed:
            heart.set_base(base, rule.fixed_void_ns, rule.void_after_ns, hold)
            handed = base
        else:
            heart.hold(hold)
        st.follow(heart.stats())
        wake = min(now + supervise_ns, turns, clockbound.next_ns if clockbound is not None else FOREVER_NS)
        d.wait_for_change(max(0, wake - mono()) / 1e9)
    st.follow(heart.stats())


def run_python(
    d: Daemon, publisher: SnapshotWriter, clockbound: ClockBoundOutput | None, period_ns: int
) -> None:
    next_tick = d.clock.monotonic_ns()
    st = d.stats
    # Bound once: each lookup is paid again on every wake-up, on a cold cache.
    stopped, mono, perf = d.stopping, d.clock.monotonic_ns, time.perf_counter_ns
    check_step, base_at, heartbeat = d.check_clock_step, d.heartbeat_base, publisher.publish_heartbeat
    cb_base: Snapshot | None = None
    while not stopped():
        t0 = perf()
        now = mono()
        check_step()
        base, void_after = base_at(now)
        if clockbound is not None and (base is not cb_base or now >= clockbound.next_ns):
            d.write_clockbound(clockbound, now)
            cb_base = base
        heartbeat(base, now, void_after, st.count, st.rate_hz, st.latency_ms)
        st.count += 1
        if st.last_ns:
            period = now - st.last_ns
            st.add_period_error(abs(period - period_ns) / 1e6)
            # The mean period, not the mean of 1/period: under jitter the latter overstated the
            # rate at 1000 Hz by 1.5-2x (Jensen's inequality).
            mean = st.mean_period_ns
            st.mean_period_ns = mean = period if mean == 0 else 0.99 * mean + 0.01 * period
            st.rate_hz = 1e9 / max(1.0, mean)
        st.last_ns = now
        st.latency_ms = 0.99 * st.latency_ms + 0.01 * (perf() - t0) / 1e6
        next_tick += period_ns
        delay = next_tick - time.monotonic_ns()
        if delay < -10 * period_ns:  # fell far behind (suspended, starved): do not burst to catch up
            next_tick = time.monotonic_ns()
        elif delay > 0:
            # A plain sleep costs less per wake-up than Event.wait; stop() is seen within one
            # period, and signal handlers run during the sleep.
            time.sleep(delay / 1e9)
