"""The ChronoTick daemon: measurement on its own thread, publication on a fixed-rate loop.

measurement thread: poll every server concurrently -> validate -> select -> ClockModel.update
publish loop:       every 1/freq s -> status from freshness and step checks -> Publisher.publish
                    (the ticks on a C thread where it is built: publish_loop.py)

The publish loop only reads the latest estimate under a lock, so a slow NTP server or model never
stalls it. Measurement (measurement.py), the status machine (clock_state.py) and what a tick
publishes (publication.py) each have their own room; this one owns the threads and the lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

from chronotick_engine.config import ChronoTickConfig
from chronotick_engine.daemon.chrony_follower import ChronyFollower
from chronotick_engine.daemon.clock_state import ClockState
from chronotick_engine.daemon.clockbound_output import ClockBoundOutput
from chronotick_engine.daemon.measurement import Measurer, QueryFn
from chronotick_engine.daemon.publication import (
    HeartbeatBase,
    PublishStats,
    build_snapshot,
    hard_interval_now,
)
from chronotick_engine.daemon.publish_loop import run_native, run_python
from chronotick_engine.measure.hard_bound import HardInterval, bound_ns, intersect
from chronotick_engine.measure.ntp import SYSTEM_CLOCK, ClockSource, query
from chronotick_engine.measure.selection import select
from chronotick_engine.model.base import ClockEstimate
from chronotick_engine.model.classical import ClockModel
from chronotick_engine.model.setup import (
    ForecastStatus,
    build_forecasters,
    forecast_sections,
    settings_from_config,
)
from chronotick_engine.protocol.codec import Flag, Snapshot, Status
from chronotick_engine.protocol.detail import ChronyDetail, DaemonDetail, ModelsDetail
from chronotick_engine.protocol.native_heartbeat import NativeHeartbeat
from chronotick_engine.protocol.paths import detail_path
from chronotick_engine.protocol.writer import SnapshotWriter
from chronotick_engine.shared_files import replace_atomically

log = logging.getLogger("chronotick.daemon")


class Daemon:
    def __init__(
        self,
        cfg: ChronoTickConfig,
        *,
        clock: ClockSource = SYSTEM_CLOCK,
        query_fn: QueryFn = query,
        model: ClockModel | None = None,
        sidecar: bool = True,
    ):
        """`sidecar=False`: no status file (an in-process engine hands detail() to its readers)."""
        self.cfg = cfg
        self.clock = clock
        self.model = model or ClockModel(settings_from_config(cfg))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._changed = threading.Event()  # a new estimate: the native publish loop rebuilds now
        self._estimate: ClockEstimate | None = None
        self._hard: HardInterval | None = None  # the worst-case interval (measure/hard_bound.py)
        self.published_estimate: ClockEstimate | None = None  # the estimate in the last snapshot built
        self._start_ns = clock.monotonic_ns()
        self.measurer = Measurer(cfg, clock, query_fn, self._stop, self._start_ns)
        self.state = ClockState(cfg, clock)
        self.stats = PublishStats()
        self._void_after_ns = int(cfg.daemon.void_after_seconds * 1e9)
        self._heartbeat = HeartbeatBase(self._void_after_ns)
        self.forecast: ForecastStatus = ForecastStatus()
        self.status_path = detail_path(cfg.daemon.shm_path) if sidecar else None
        self._sidecar_error: str | None = None
        # chrony mode (clock_measurement.chrony): chronyd's reports are the estimate, and the
        # NTS servers beside it guard it (chrony_follower.py).
        self.chrony = ChronyFollower(cfg) if cfg.clock_measurement.chrony is not None else None

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
        self._changed.set()

    # the status machine's inputs -------------------------------------------------------------------

    def check_clock_step(self) -> int:
        """Detect a step of the system clock; re-express the model and start a burst. Returns the step."""
        found = self.state.detect_step()
        if found is None:
            return 0
        step, rm = found
        log.warning("system clock stepped by %+.6f s; DISRUPTED until re-synchronised", step / 1e9)
        with self._lock:
            self.model.local_step(step / 1e9)
            self._estimate = self.model.estimate
            self._hard = None  # measured against the clock before the step
            self.state.stepped(rm)
            self.measurer.start_burst()
        self._wake.set()
        return step

    def inherit(self, previous: Snapshot | None) -> bool:
        """Serve a previous daemon's estimate, as FREE_RUNNING, until this one has its own
        (ClockState.may_inherit says when that is honest)."""
        if not self.state.may_inherit(previous, self.clock.monotonic_ns()):
            return False
        assert previous is not None
        with self._lock:
            self.state.inherited = previous
        log.info(
            "serving generation %d's estimate (FREE_RUNNING) until the first measurement",
            previous.generation,
        )
        return True

    # measurement -----------------------------------------------------------------------------------

    def poll_once(self) -> str:
        """One measurement round over all servers; returns the model's verdict or why there was none."""
        good = self.measurer.poll_round()
        if not good:
            return "no_reply"
        if any(self.state.brackets_step(ex) for ex in good):  # unusable, and tells us about the step
            self.check_clock_step()
            return "clock_step"
        chosen = select(good)
        self.measurer.note_selection(chosen)
        if self.chrony is not None:  # the exchanges only guard chronyd: they do not steer
            now = self.clock.monotonic_ns()
            with self._lock:
                self.chrony.check_guard([x for x in chosen.truechimers if x.authenticated], now)
            return "guard"
        m = chosen.combined()
        assert m is not None
        max_drift = self.cfg.estimator.max_drift_ppm * 1e-6
        with self._lock:
            verdict = self.model.update(m)
            est = self._estimate = self.model.estimate
            if verdict != "outlier":
                self.state.sample_accepted(int(m.t * 1e9))
                drift = 0.0 if est is None else est.drift
                self._hard = intersect(chosen.truechimers, self.clock.monotonic_ns(), drift, max_drift)
        self._changed.set()
        if verdict != "accepted":
            log.info("round verdict: %s (offset %+.6f s)", verdict, m.offset)
        return verdict

    # chrony mode -----------------------------------------------------------------------------------

    def read_chrony(self) -> None:
        """One read of chronyd: a good report becomes the estimate; a bad one (or none) keeps the
        last estimate, which widens, and says why (chrony_follower.py)."""
        assert self.chrony is not None
        report, problem = self.chrony.fetch()
        with self._lock:
            est = self.chrony.adopt(report, problem)
            if est is not None and report is not None:
                self._estimate, self._hard = est, self.chrony.hard
                self.state.sample_accepted(report.mono_ns)
        self._changed.set()

    def _chrony_loop(self) -> None:
        assert self.chrony is not None
        poll = self.chrony.section.poll_seconds
        while not self._stop.is_set():
            try:
                self.read_chrony()
            except Exception:  # never let one bad read end the following
                log.exception("chrony read failed")
            self._stop.wait(poll)
        self.chrony.reader.close()

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
            self._wake.wait(self.measurer.next_interval())
            self._wake.clear()

    # status ----------------------------------------------------------------------------------------

    def silence_limit_s(self) -> float:
        if self.chrony is not None:
            return self.chrony.silence_limit_s()
        return self.state.silence_limit_s(self.measurer.interval_s)

    def current_status(self, now_ns: int) -> Status:
        with self._lock:
            est, disrupted = self._estimate, self.state.disrupted
            last = self.state.last_sample_ns
            if self.chrony is not None:
                return self.chrony.status(now_ns, est, disrupted, last)
        return self.state.status(now_ns, est, disrupted, last, self.model.accepted, self.measurer.interval_s)

    def snapshot(self, now_ns: int, stopped: bool = False) -> Snapshot:
        with self._lock:
            est = self._estimate
            last_ntp = self.state.last_sample_ns
            samples = self.model.accepted if self.chrony is None else self.chrony.reads
        self.published_estimate = est  # what readers get from it: the ClockBound record covers this one
        flags = Flag(0)
        if samples >= self.cfg.estimator.min_samples:
            flags |= Flag.NTP_READY
        if self.forecast.ready:
            flags |= Flag.MODELS_READY
        if stopped:
            flags |= Flag.STOPPED
        return build_snapshot(
            now_ns,
            status=self.current_status(now_ns),
            flags=flags,
            est=est,
            inherited=self.state.inherited_at(now_ns) if est is None else None,
            real_minus_mono_ns=self.state.real_minus_mono or 0,
            last_ntp_ns=last_ntp,
            samples=samples,
            start_ns=self._start_ns,
            void_after_ns=self._void_after_ns,
            stats=self.stats,
        )

    def detail(self) -> DaemonDetail:
        """The status sidecar's contents (docs/PROTOCOL.md)."""
        now = self.clock.monotonic_ns()
        with self._lock:
            est = self._estimate
            weights = self.model.weights
            hard = hard_interval_now(self._hard, est, now)
        return DaemonDetail(
            pid=os.getpid(),
            status=self.current_status(now).name,
            uptime_s=round((now - self._start_ns) / 1e9, 3),
            samples_accepted=self.model.accepted,
            samples_rejected=self.model.rejected,
            steps_accepted=self.model.steps,
            measurement_interval_s=self.measurer.interval_s,
            predictor_weights={k: round(v, 4) for k, v in weights.items()},
            offset_ms=None if est is None else round(est.offset_s * 1e3, 6),
            drift_ppm=None if est is None else round(est.drift * 1e6, 4),
            uncertainty_ms=None if est is None else round(est.offset_unc_s * 1e3, 6),
            hard_interval_ms=None if hard is None else (round(hard[0] * 1e3, 6), round(hard[1] * 1e3, 6)),
            hard_bound_ms=None if hard is None else bound_ns(hard) / 1e6,
            publish=self.stats.detail(),
            servers=self.measurer.details(),
            models=ModelsDetail(**self.forecast.as_dict()),
            chrony=None if self.chrony is None else self._chrony_detail(),
        )

    def _chrony_detail(self) -> ChronyDetail:
        assert self.chrony is not None
        with self._lock:
            return self.chrony.detail()

    def write_status_file(self) -> None:
        """The sidecar beside the segment, replaced whole (the 128-byte segment has no room for it),
        through a temporary file no one else can plant or predict."""
        if self.status_path is None:
            return
        try:
            replace_atomically(
                self.status_path, self.detail().model_dump_json().encode(), self.cfg.daemon.mode
            )
            self._sidecar_error = None
        except OSError as exc:
            error = f"cannot write the status file {self.status_path}: {exc.strerror or exc}"
            if error != self._sidecar_error:  # once per cause, not every round
                log.warning("%s; readers show the segment's status without detail", error)
            self._sidecar_error = error

    # publication -----------------------------------------------------------------------------------

    def heartbeat_base(self, now_ns: int) -> tuple[Snapshot, int]:
        """(snapshot(now), this tick's void time), rebuilt only when an input changed or its status
        may have turned with time (SYNCHRONIZED to FREE_RUNNING, an inherited model going void)."""
        st = self.state
        key = (
            self._estimate,
            st.inherited,
            st.disrupted,
            st.real_minus_mono,
            st.last_sample_ns,
            self.measurer.interval_s,
            self.model.accepted,
            self.forecast.ready,
            None
            if self.chrony is None
            else (self.chrony.problem, self.chrony.guard and self.chrony.guard.disrupted),
        )
        hit = self._heartbeat.current(now_ns, key)
        if hit is not None:
            return hit
        return self._heartbeat.rebuild(
            now_ns,
            key,
            self.snapshot(now_ns),
            self._estimate is not None,
            st.last_sample_ns + int(self.silence_limit_s() * 1e9) + 1,
        )

    def write_clockbound(self, out: ClockBoundOutput, now_ns: int, stopped: bool = False) -> None:
        status = self.current_status(now_ns)
        est = self.published_estimate
        with self._lock:
            hard = self._hard
        wander_s = self.state.realtime_wander_ns / 1e9
        if stopped:
            out.stopped(now_ns, est, hard, wander_s)
        else:
            out.write(now_ns, status, est, hard, wander_s)

    def run(self, publisher: SnapshotWriter, clockbound: ClockBoundOutput | None = None) -> None:
        """Publish at cfg.daemon.freq_hz until stop(), and into `clockbound` at most 10 times a
        second (publish_loop.py); measurement runs on its own thread."""
        period_ns = int(1e9 / self.cfg.daemon.freq_hz)
        self.inherit(publisher.previous)
        measure_thread = threading.Thread(target=self._measure_loop, name="measure", daemon=True)
        measure_thread.start()
        chrony_thread = None
        if self.chrony is not None:
            chrony_thread = threading.Thread(target=self._chrony_loop, name="chrony", daemon=True)
            chrony_thread.start()
        heart = None
        if self.clock is SYSTEM_CLOCK:  # the C thread reads CLOCK_MONOTONIC itself
            heart = NativeHeartbeat.start_for(
                publisher, period_ns, self.stats.count, self.cfg.daemon.heartbeat_priority
            )
            if heart is not None:
                self.stats.scheduling = heart.scheduling
                if "refused" in heart.scheduling:
                    log.info("heartbeat thread: %s", heart.scheduling)
        try:
            if heart is not None:
                run_native(self, heart, clockbound, period_ns)
            else:
                run_python(self, publisher, clockbound, period_ns)
        finally:
            self._stop.set()
            self._wake.set()
            if heart is not None:
                heart.stop()
                self.stats.errors_from = None
            measure_thread.join(timeout=self.cfg.clock_measurement.ntp.timeout_seconds * 3 + 1)
            if chrony_thread is not None:
                chrony_thread.join(timeout=2)
            with contextlib.suppress(Exception):
                publisher.publish(self.snapshot(self.clock.monotonic_ns(), stopped=True))
            if clockbound is not None:
                with contextlib.suppress(Exception):
                    self.write_clockbound(clockbound, self.clock.monotonic_ns(), stopped=True)
            self.measurer.shutdown()
            self.forecast.stop()

    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def heartbeat_rule(self) -> HeartbeatBase:
        return self._heartbeat

    def wait_for_change(self, timeout_s: float) -> None:
        """Sleep until `timeout_s` passes, the estimate changes, or stop()."""
        self._changed.wait(timeout_s)
        self._changed.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._changed.set()
