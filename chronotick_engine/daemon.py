"""The ChronoTick daemon: measurement on its own thread, publication on a fixed-rate loop.

measurement thread: poll every server concurrently -> validate -> select -> ClockModel.update
publish loop:       every 1/freq s -> status from freshness and step checks -> Publisher.publish

The publish loop only reads the latest estimate under a lock, so a slow NTP server or model never
stalls it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from chronotick_engine.config import ChronoTickConfig
from chronotick_engine.forecast_setup import ForecastStatus, build_forecasters, forecast_sections
from chronotick_engine.model.base import ClockEstimate
from chronotick_engine.model.classical import ClockModel, EstimatorSettings
from chronotick_engine.ntp import SYSTEM_CLOCK, ClockSource, Exchange, Rejected, ServerState, query
from chronotick_engine.segment import Flag, Publisher, Snapshot, Source, Status
from chronotick_engine.selection import select

log = logging.getLogger("chronotick.daemon")

STEP_THRESHOLD_NS = 1_000_000  # realtime vs monotonic disagreement that counts as a clock step
CLOCK_READ_WINDOW_NS = 200_000  # a realtime read bracketed by monotonic reads closer than this is trusted
RESYNC_SAMPLES = 2  # accepted samples after a step before DISRUPTED clears
PERIOD_RING = 1024  # publish periods kept for the jitter percentile


class QueryFn(Protocol):
    def __call__(
        self, host: str, port: int, timeout: float, max_delay: float, clock: ClockSource
    ) -> Exchange: ...


def settings_from_config(cfg: ChronoTickConfig) -> EstimatorSettings:
    e = cfg.estimator
    return EstimatorSettings(
        history=e.history,
        min_samples=e.min_samples,
        asymmetry_fraction=e.asymmetry_fraction,
        wander_ppm=e.wander_ppm,
        max_step_s=e.max_step_seconds,
        backtest_window=cfg.fusion.backtest_window,
    )


@dataclass
class _PublishStats:
    count: int = 0
    rate_hz: float = 0.0
    latency_ms: float = 0.0
    last_ns: int = 0
    # |actual - nominal| publish period of the last PERIOD_RING ticks, a ring the publish loop writes
    # without locking (a list copy is one call under the GIL, unlike iterating a deque; a list
    # store is cheaper than a numpy one on the cold cache of each wake-up).
    period_errors_ms: list[float] = field(default_factory=lambda: [math.nan] * PERIOD_RING)
    periods: int = 0

    def add_period_error(self, ms: float) -> None:
        self.period_errors_ms[self.periods % PERIOD_RING] = ms
        self.periods += 1

    def jitter_p99_ms(self) -> float | None:
        errs = np.array(self.period_errors_ms[:])
        errs = errs[np.isfinite(errs)]
        return round(float(np.percentile(errs, 99)), 4) if errs.size else None


class Daemon:
    def __init__(
        self,
        cfg: ChronoTickConfig,
        *,
        clock: ClockSource = SYSTEM_CLOCK,
        query_fn: QueryFn = query,
        model: ClockModel | None = None,
    ):
        self.cfg = cfg
        self.clock = clock
        self.query_fn = query_fn
        self.model = model or ClockModel(settings_from_config(cfg))
        self.servers = {f"{h}:{p}": ServerState(f"{h}:{p}") for h, p in cfg.clock_measurement.ntp.endpoints()}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._estimate: ClockEstimate | None = None
        self._inherited: Snapshot | None = None
        self._last_sample_ns = 0
        self._samples_since_step = 0
        self._disrupted = False
        self._burst_left = cfg.clock_measurement.ntp.burst_count
        self._interval_s = cfg.clock_measurement.ntp.burst_interval_seconds
        self._start_ns = clock.monotonic_ns()
        self._real_minus_mono = self._read_real_minus_mono()
        self._stats = _PublishStats()
        self._base: Snapshot | None = None
        self._base_key: tuple = ()
        self._base_until_ns = 0
        self._base_void_after_ns: int | None = None  # an inherited model's own; None: now + void
        self._void_after_ns = int(cfg.daemon.void_after_seconds * 1e9)
        self.forecast: ForecastStatus = ForecastStatus()
        self.status_path = cfg.daemon.shm_path + ".json"
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.servers)), thread_name_prefix="ntp")

    # forecasting -----------------------------------------------------------------------------------

    def start_forecasters(self) -> threading.Thread | None:
        """Load the config's TimesFM forecasters in the background (loading takes seconds and must
        not delay the first publication), then join them to the model; failures are one log line
        and leave the classical model alone."""
        self.forecast = ForecastStatus(requested=[n for n, s in forecast_sections(self.cfg)])
        if not self.forecast.requested:
            return None

        def load() -> None:
            status = build_forecasters(self.cfg, threaded=True, on_forecast=self._on_forecast)
            with self._lock:
                for engine in status.engines:
                    self.model.attach_forecasts(engine)
                self.forecast = status
            if self._stop.is_set():
                status.stop()

        loader = threading.Thread(target=load, name="forecast-load", daemon=True)
        loader.start()
        return loader

    def _on_forecast(self) -> None:
        with self._lock:
            self.model.refresh()
            self._estimate = self.model.estimate

    # clocks ----------------------------------------------------------------------------------------

    def _read_real_minus_mono(self) -> int | None:
        """CLOCK_REALTIME - CLOCK_MONOTONIC, or None when preemption made the reading unreliable."""
        c = self.clock
        m1 = c.monotonic_ns()
        r = c.realtime_ns()
        m2 = c.monotonic_ns()
        if m2 - m1 > CLOCK_READ_WINDOW_NS:
            return None
        return r - (m1 + m2) // 2

    def check_clock_step(self) -> int:
        """Detect a step of the system clock; re-express the model and start a burst. Returns the step."""
        rm = self._read_real_minus_mono()
        if rm is None or self._real_minus_mono is None:
            self._real_minus_mono = self._real_minus_mono or rm
            return 0
        step = rm - self._real_minus_mono
        if abs(step) <= STEP_THRESHOLD_NS:
            return 0
        log.warning("system clock stepped by %+.6f s; DISRUPTED until re-synchronised", step / 1e9)
        with self._lock:
            self._real_minus_mono = rm
            self.model.local_step(step / 1e9)
            self._estimate = self.model.estimate
            self._disrupted = True
            self._samples_since_step = 0
            self._burst_left = self.cfg.clock_measurement.ntp.burst_count
        self._wake.set()
        return step

    def inherit(self, previous: Snapshot | None) -> bool:
        """Serve a previous daemon's estimate, as FREE_RUNNING, until this one has its own.

        A supervisor restart on the same segment would otherwise replace a usable model with
        "no estimate" for the length of the first NTP round, and clients would raise. The old model
        is taken only from a daemon that vouched for it (SYNCHRONIZED or FREE_RUNNING, not
        DISRUPTED or warming up), while it is within its own void time, and from this boot
        (CLOCK_REALTIME - CLOCK_MONOTONIC unchanged: a reboot or a clock step while no daemon ran
        breaks that). It keeps its own void time and last-NTP time, so its bounds go on widening
        honestly.
        """
        now = self.clock.monotonic_ns()
        rm = self._real_minus_mono
        for _ in range(5):  # a preempted first reading must not cost the whole inheritance
            if rm is not None:
                break
            rm = self._read_real_minus_mono()
        if (
            previous is None
            or previous.source is Source.NONE
            or previous.status not in (Status.SYNCHRONIZED, Status.FREE_RUNNING)
            or rm is None
            or not previous.last_publish_mono_ns <= now < previous.void_after_mono_ns
            or abs(previous.anchor_real_ns - previous.anchor_mono_ns - rm) > STEP_THRESHOLD_NS
        ):
            return False
        with self._lock:
            self._inherited = previous
        log.info(
            "serving generation %d's estimate (FREE_RUNNING) until the first measurement",
            previous.generation,
        )
        return True

    def _inherited_at(self, now_ns: int) -> Snapshot | None:
        prev = self._inherited
        return prev if prev is not None and now_ns < prev.void_after_mono_ns else None

    # measurement -----------------------------------------------------------------------------------

    def _query_with_retries(self, state: ServerState) -> Exchange | None:
        ntp = self.cfg.clock_measurement.ntp
        host, _, port = state.name.rpartition(":")
        host = host.strip("[]")
        if self.clock.monotonic_ns() < state.backoff_until_mono_ns:
            return None
        for attempt in range(ntp.retries + 1):
            try:
                return self.query_fn(
                    host, int(port), ntp.timeout_seconds, 2 * ntp.max_acceptable_uncertainty, self.clock
                )
            except Rejected as exc:
                state.record_failure(exc.reason, str(exc))
                if exc.reason == "kiss_of_death":
                    code = str(exc).rpartition(" ")[2]
                    pause = 3600 if code in ("DENY", "RSTR") else 4 * self._interval_s
                    state.backoff_until_mono_ns = self.clock.monotonic_ns() + int(pause * 1e9)
                    log.warning("%s sent kiss-of-death %s; pausing it for %.0f s", state.name, code, pause)
                return None
            except (TimeoutError, OSError) as exc:
                reason = "timeout" if isinstance(exc, TimeoutError) else "network_error"
                if attempt == ntp.retries:
                    state.record_failure(reason, str(exc) or reason)
                    return None
                if self._stop.wait(min(2.0, 0.25 * 2**attempt)):
                    return None
        return None

    def poll_once(self) -> str:
        """One measurement round over all servers; returns the model's verdict or why there was none."""
        states = list(self.servers.values())
        results = list(self._pool.map(self._query_with_retries, states))
        good: list[Exchange] = []
        for state, ex in zip(states, results, strict=True):
            if ex is not None:
                state.record_success(ex)
                good.append(ex)
        if not good:
            return "no_reply"
        for ex in good:  # a reply bracketing a step is unusable, and tells us about the step
            if (
                self._real_minus_mono is not None
                and abs(ex.real_minus_mono_ns - self._real_minus_mono) > STEP_THRESHOLD_NS
            ):
                self.check_clock_step()
                return "clock_step"
        chosen = select(good)
        for ex in chosen.falsetickers:
            st = self.servers[ex.server]
            st.rejects["falseticker"] += 1
            st.last_error = f"falseticker: offset {ex.offset:+.6f} s disagrees with the majority"
            log.warning("%s excluded as a falseticker (offset %+.6f s)", ex.server, ex.offset)
        for ex in chosen.truechimers:
            self.servers[ex.server].selected += 1
        m = chosen.combined()
        assert m is not None
        with self._lock:
            verdict = self.model.update(m)
            if verdict != "outlier":
                self._last_sample_ns = int(m.t * 1e9)
                self._samples_since_step += 1
                if self._disrupted and self._samples_since_step >= RESYNC_SAMPLES:
                    self._disrupted = False
                    log.info("re-synchronised after the clock step")
            self._estimate = self.model.estimate
        if verdict != "accepted":
            log.info("round verdict: %s (offset %+.6f s)", verdict, m.offset)
        return verdict

    def _next_interval(self) -> float:
        timing = self.cfg.clock_measurement.timing
        if self._burst_left > 0:
            self._burst_left -= 1
            return self.cfg.clock_measurement.ntp.burst_interval_seconds
        if (self.clock.monotonic_ns() - self._start_ns) / 1e9 < timing.warm_up.duration_seconds:
            return timing.warm_up.measurement_interval
        return timing.normal_operation.measurement_interval

    def _measure_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # never let one bad round kill measurement
                log.exception("measurement round failed")
            try:
                self.write_status_file()
            except Exception:  # the detail file is informational; measurement must go on
                log.exception("status file not written")
            self._interval_s = self._next_interval()
            self._wake.wait(self._interval_s)
            self._wake.clear()

    # status ----------------------------------------------------------------------------------------

    def _silence_limit_s(self) -> float:
        """How long without an accepted sample before SYNCHRONIZED turns FREE_RUNNING."""
        ntp = self.cfg.clock_measurement.ntp
        # A round lasts up to one timeout per try, on top of the wait between rounds.
        return self.cfg.daemon.free_running_after_intervals * (
            self._interval_s + ntp.timeout_seconds * (ntp.retries + 1)
        )

    def current_status(self, now_ns: int) -> Status:
        with self._lock:
            est, disrupted = self._estimate, self._disrupted
            last = self._last_sample_ns
        if disrupted:
            return Status.DISRUPTED
        if est is None:
            return Status.FREE_RUNNING if self._inherited_at(now_ns) else Status.WARMING_UP
        if (now_ns - last) / 1e9 > self._silence_limit_s():
            return Status.FREE_RUNNING
        if self.model.accepted < self.cfg.estimator.min_samples:
            return Status.WARMING_UP
        return Status.SYNCHRONIZED

    def snapshot(self, now_ns: int, stopped: bool = False) -> Snapshot:
        with self._lock:
            est = self._estimate
            last_ntp = self._last_sample_ns
            samples = self.model.accepted
        status = self.current_status(now_ns)
        flags = Flag(0)
        if samples >= self.cfg.estimator.min_samples:
            flags |= Flag.NTP_READY
        if self.forecast.ready:
            flags |= Flag.MODELS_READY
        if stopped:
            flags |= Flag.STOPPED
        rm = self._real_minus_mono or 0
        st = self._stats
        common = dict(
            generation=0,
            status=status,
            flags=flags,
            void_after_mono_ns=now_ns + self._void_after_ns,
            last_publish_mono_ns=now_ns,
            last_ntp_mono_ns=last_ntp,
            daemon_start_mono_ns=self._start_ns,
            publish_count=st.count,
            sample_count=samples,
            publish_rate_hz=st.rate_hz,
            avg_latency_ms=st.latency_ms,
        )
        prev = self._inherited_at(now_ns) if est is None else None
        if prev is not None:
            # The predecessor's model with its own void and last-NTP times; this daemon's heartbeat.
            del common["void_after_mono_ns"], common["last_ntp_mono_ns"]
            return replace(prev, seq=0, **common)
        if est is None:
            return Snapshot(
                source=Source.NONE,
                anchor_mono_ns=now_ns,
                anchor_real_ns=now_ns + rm,
                offset_s=0.0,
                drift=0.0,
                offset_unc_s=0.0,
                drift_unc=0.0,
                max_drift_rate=0.0,
                confidence=0.0,
                **common,
            )
        anchor = int(est.anchor_t * 1e9)
        return Snapshot(
            source=Source.FUSED if est.fused else Source.CLASSICAL,
            anchor_mono_ns=anchor,
            anchor_real_ns=anchor + rm,
            offset_s=est.offset,
            drift=est.drift,
            offset_unc_s=est.offset_unc,
            drift_unc=est.drift_unc,
            max_drift_rate=est.max_drift_rate,
            confidence=est.confidence,
            **common,
        )

    def status_dict(self) -> dict:
        now = self.clock.monotonic_ns()
        with self._lock:
            est = self._estimate
            weights = self.model.weights
        return {
            "pid": os.getpid(),
            "status": self.current_status(now).name,
            "uptime_s": round((now - self._start_ns) / 1e9, 3),
            "samples_accepted": self.model.accepted,
            "samples_rejected": self.model.rejected,
            "steps_accepted": self.model.steps,
            "measurement_interval_s": self._interval_s,
            "predictor_weights": {k: round(v, 4) for k, v in weights.items()},
            "offset_ms": None if est is None else round(est.offset * 1e3, 6),
            "drift_ppm": None if est is None else round(est.drift * 1e6, 4),
            "uncertainty_ms": None if est is None else round(est.offset_unc * 1e3, 6),
            "publish": {
                "count": self._stats.count,
                "rate_hz": round(self._stats.rate_hz, 3),
                "latency_ms": round(self._stats.latency_ms, 4),
                "period_error_p99_ms": self._stats.jitter_p99_ms(),
            },
            "servers": [s.as_dict() for s in self.servers.values()],
            "models": self.forecast.as_dict(),
        }

    def write_status_file(self) -> None:
        """Per-server detail beside the segment (the 128-byte segment has no room for it)."""
        tmp = f"{self.status_path}.tmp.{os.getpid()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, self.cfg.daemon.mode)
            with os.fdopen(fd, "w") as fh:
                json.dump(self.status_dict(), fh)
            os.replace(tmp, self.status_path)
        except OSError as exc:
            log.debug("cannot write %s: %s", self.status_path, exc)

    # publication -----------------------------------------------------------------------------------

    def _heartbeat_base(self, now_ns: int) -> tuple[Snapshot, int]:
        """(snapshot(now), this tick's void time). The snapshot is rebuilt only when an input
        changed or its status may have turned with time (SYNCHRONIZED to FREE_RUNNING, an
        inherited model going void); the publish loop adds the heartbeat fields of each tick. The
        inputs are read without the lock: a torn read only makes the key differ, and the next tick
        rebuilds."""
        key = (
            self._estimate,
            self._inherited,
            self._disrupted,
            self._real_minus_mono,
            self._last_sample_ns,
            self._interval_s,
            self.model.accepted,
            self.forecast.ready,
        )
        base = self._base
        if base is None or key != self._base_key or now_ns >= self._base_until_ns:
            base = self._rebuild_base(now_ns, key)
        fixed = self._base_void_after_ns
        return base, now_ns + self._void_after_ns if fixed is None else fixed

    def _rebuild_base(self, now_ns: int, key: tuple) -> Snapshot:
        base = self.snapshot(now_ns)
        self._base_void_after_ns = None
        if base.source is Source.NONE:
            until = now_ns  # its anchor is "now": rebuild every tick until there is a model
        elif self._estimate is None:
            until = self._base_void_after_ns = base.void_after_mono_ns  # inherited: until it is void
        elif base.status in (Status.SYNCHRONIZED, Status.WARMING_UP):
            until = self._last_sample_ns + int(self._silence_limit_s() * 1e9) + 1
        else:
            until = 1 << 62  # FREE_RUNNING or DISRUPTED end only with a new input
        self._base, self._base_key, self._base_until_ns = base, key, until
        return base

    def run(self, publisher: Publisher) -> None:
        """Publish at cfg.daemon.freq_hz until stop(); measurement runs on its own thread."""
        period_ns = int(1e9 / self.cfg.daemon.freq_hz)
        self.inherit(publisher.previous)
        measurer = threading.Thread(target=self._measure_loop, name="measure", daemon=True)
        measurer.start()
        next_tick = self.clock.monotonic_ns()
        st = self._stats
        # Bound once: each lookup is paid again on every wake-up, on a cold cache.
        stopped, mono, perf = self._stop.is_set, self.clock.monotonic_ns, time.perf_counter_ns
        check_step, base_at, heartbeat = (
            self.check_clock_step,
            self._heartbeat_base,
            publisher.publish_heartbeat,
        )
        try:
            while not stopped():
                t0 = perf()
                now = mono()
                check_step()
                base, void_after = base_at(now)
                heartbeat(base, now, void_after, st.count, st.rate_hz, st.latency_ms)
                st.count += 1
                if st.last_ns:
                    st.add_period_error(abs(now - st.last_ns - period_ns) / 1e6)
                    inst = 1e9 / max(1, now - st.last_ns)
                    st.rate_hz = inst if st.rate_hz == 0 else 0.99 * st.rate_hz + 0.01 * inst
                st.last_ns = now
                st.latency_ms = 0.99 * st.latency_ms + 0.01 * (perf() - t0) / 1e6
                next_tick += period_ns
                delay = next_tick - time.monotonic_ns()
                if delay < -10 * period_ns:  # fell far behind (suspended, starved): do not burst to catch up
                    next_tick = time.monotonic_ns()
                elif delay > 0:
                    # A plain sleep costs less per wake-up than Event.wait; stop() is seen within
                    # one period, and signal handlers run during the sleep.
                    time.sleep(delay / 1e9)
        finally:
            self._stop.set()
            self._wake.set()
            measurer.join(timeout=self.cfg.clock_measurement.ntp.timeout_seconds * 3 + 1)
            with contextlib.suppress(Exception):
                publisher.publish(self.snapshot(self.clock.monotonic_ns(), stopped=True))
            self._pool.shutdown(wait=False, cancel_futures=True)
            self.forecast.stop()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
