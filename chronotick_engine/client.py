"""ChronoTickClient: corrected time and its 95% error bar from the daemon's shared-memory segment.

Corrected time = anchor_real + (mono_now - anchor_mono) + offset + drift * (mono_now - anchor_mono).
While the system clock is not stepped this equals system_now + offset + drift * elapsed; computing it
from CLOCK_MONOTONIC keeps it right if the system clock is stepped under us, and costs one clock read.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict

from chronotick_engine.errors import NotReadyError, SegmentError
from chronotick_engine.extrapolation import halfwidth_coefficients
from chronotick_engine.protocol.codec import Snapshot, Source, Status
from chronotick_engine.protocol.detail import DaemonDetail, without_schedule
from chronotick_engine.protocol.paths import PURE_PYTHON_ENV, default_path
from chronotick_engine.protocol.reader import SegmentReader

try:  # the optional C fast path (clients/c/chronotick.h), built when a compiler was there
    from chronotick_engine import _native
except ImportError:
    _native = None


MAX_FUTURE_SECONDS = 3600.0
MIN_UNCERTAINTY_NS = 1_000  # never claim a perfect clock
# Look for a replaced segment file at most every 100 ms: a stat() releases the GIL, and in a threaded
# host (an MCP server's stdin reader) taking it back can cost a hundred microseconds. A restarted
# daemon reuses the file in place, so replacement is rare, and until it is seen the old mapping still
# serves a model within its own bounds.
RECHECK_NS = 100_000_000
# The fast path re-validates the segment at most this long after its last check: a new publish is
# seen within 1 ms, and until then the previous model (still within its own bounds) serves.
REVALIDATE_NS = 1_000_000


def freshness_grace_s(publish_rate_hz: float) -> float:
    """How long after its last publish a daemon's SYNCHRONIZED is still trusted (ClockBound-style)."""
    return 1.0 + 5.0 / max(publish_rate_hz, 1.0)


def effective_status(snap: Snapshot, mono_ns: int) -> Status:
    """The status a client may report: decided from freshness, never taken on trust."""
    fresh = (mono_ns - snap.last_publish_mono_ns) <= freshness_grace_s(snap.publish_rate_hz) * 1e9
    live = fresh and not snap.stopped
    if snap.source is Source.NONE:
        return Status.UNKNOWN if live else Status.STOPPED
    if mono_ns > snap.void_after_mono_ns:
        return Status.UNKNOWN
    if live:
        return snap.status
    if snap.status is Status.SYNCHRONIZED or snap.status is Status.FREE_RUNNING:
        return Status.FREE_RUNNING
    if snap.status is Status.DISRUPTED:
        return Status.DISRUPTED
    return Status.UNKNOWN


class TimeReading(NamedTuple):
    """One reading of the corrected clock (immutable); all times are Unix seconds (UTC)."""

    corrected_timestamp: float
    corrected_ns: int
    system_timestamp: float
    uncertainty_seconds: float  # 95% half-width
    earliest: float
    latest: float
    confidence: float
    source: str
    status: str
    offset_correction: float  # seconds to add to system time
    drift_rate: float  # seconds per second (x1e6 for ppm)
    seconds_since_ntp: float | None
    horizon_seconds: float = 0.0


class DaemonInfo(BaseModel):
    """Daemon health, decided from the segment alone. Reads as a dict too (`info["status"]`), as
    the first client's plain-dict result did."""

    model_config = ConfigDict(frozen=True)

    status: str  # the effective status: decided from freshness, never taken on trust
    published_status: str  # what the daemon last wrote
    running: bool
    stopped: bool
    daemon_uptime: float
    ntp_ready: bool
    models_ready: bool
    measurement_count: int
    seconds_since_ntp: float | None
    seconds_since_update: float
    publish_rate_hz: float
    publish_count: int
    average_latency_ms: float
    source: str
    confidence: float
    generation: int
    shm_path: str

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in type(self).model_fields

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in type(self).model_fields else default

    def keys(self) -> list[str]:
        return list(type(self).model_fields)


class SnapshotReader(Protocol):
    """Where a client's snapshots come from: a daemon's segment (SegmentReader) or an in-process
    engine's image (MemorySegment). Both decode the same 128 bytes with the same codec."""

    path: str

    def read(self) -> Snapshot: ...

    def remap_if_replaced(self) -> bool: ...

    def detail(self) -> DaemonDetail | None: ...

    def close(self) -> None: ...


def native_available() -> bool:
    """Whether new clients read through the C fast path: the extension is built and
    $CHRONOTICK_PURE_PYTHON is not 1."""
    return _native is not None and os.environ.get(PURE_PYTHON_ENV) != "1"


class ChronoTickClient:
    """Reader of the ChronoTick segment. Cheap to create; connects on first use; never unlinks.

    now_ns() and get_time() go through the C reader (chronotick_engine._native) when it is built;
    any error there is handed to the pure-Python path, which is the reference and raises the
    client's own exceptions. `native` reports which path this client uses.
    """

    def __init__(self, shm_path: str | None = None, *, reader: SnapshotReader | None = None):
        """`shm_path` defaults to $CHRONOTICK_SHM_PATH, else DEFAULT_PATH. `reader` replaces the
        segment with another source of the same images (an in-process engine's, see
        chronotick_engine.embedded); `shm_path` is then its name in messages."""
        shm_path = reader.path if reader is not None else shm_path or default_path()
        self.shm_path = shm_path
        self._native = None
        if reader is None and native_available():
            cls = type(self)
            self._native = _native.Reader(
                shm_path, TimeReading, cls.now_ns.__get__(self, cls), cls.get_time.__get__(self, cls)
            )
            # Bound on the instance: a call costs one C method call, no Python frame.
            self.now_ns = self._native.now_ns
            self.get_time = self._native.get_time
        self._reader: SnapshotReader = reader if reader is not None else SegmentReader(shm_path)
        self._snap: Snapshot | None = None
        self._base_ns = 0
        self._anchor_ns = 0
        self._drift = 0.0
        self._unc0_ns = 0
        self._rate = 0.0
        self._check_after_ns = 0
        self._replace_check_ns = 0
        self._status_name = Status.UNKNOWN.name
        self._source_name = Source.NONE.name.lower()

    # snapshot management ---------------------------------------------------------------------------

    def _refresh(self, mono_ns: int) -> Snapshot:
        reader = self._reader
        if self._snap is not None and mono_ns > self._replace_check_ns:
            self._replace_check_ns = mono_ns + RECHECK_NS
            reader.remap_if_replaced()
        snap = reader.read()
        if snap is not self._snap:
            self._snap = snap
            self._anchor_ns = snap.anchor_mono_ns
            self._base_ns = snap.anchor_real_ns - snap.anchor_mono_ns + round(snap.offset_s * 1e9)
            self._drift = snap.drift
            at_anchor, self._rate = halfwidth_coefficients(
                snap.offset_unc_s, snap.drift_unc, snap.max_drift_rate
            )
            self._unc0_ns = max(MIN_UNCERTAINTY_NS, round(at_anchor * 1e9))
            self._source_name = snap.source.name.lower()
        self._status_name = effective_status(snap, mono_ns).name
        if snap.source is Source.NONE or mono_ns > snap.void_after_mono_ns:
            # Nothing to serve: the fast path must re-validate (and raise) on every read, even
            # right after a status look refreshed this snapshot.
            self._check_after_ns = 0
            return snap
        fresh_until = snap.last_publish_mono_ns + int(freshness_grace_s(snap.publish_rate_hz) * 1e9)
        if mono_ns > fresh_until:
            fresh_until = mono_ns + RECHECK_NS
        self._check_after_ns = min(fresh_until, snap.void_after_mono_ns, mono_ns + REVALIDATE_NS)
        return snap

    def _usable(self, mono_ns: int) -> Snapshot:
        snap = self._refresh(mono_ns)
        if snap.source is Source.NONE:
            raise NotReadyError(self._no_estimate_text(snap, mono_ns))
        if mono_ns > snap.void_after_mono_ns:
            age = (mono_ns - snap.last_publish_mono_ns) / 1e9
            raise NotReadyError(
                f"ChronoTick data at {self.shm_path} is void (last update {age:.1f} s ago): "
                "restart chronotick-daemon or check its NTP servers"
            )
        return snap

    def _no_estimate_text(self, snap: Snapshot, mono_ns: int) -> str:
        """Why there is no time, and what to do: the first failing server's reason when the
        sidecar names one, and never advice to wait for a daemon that is not running."""
        detail = self.get_daemon_detail()
        failing = next((s for s in detail.servers if s.last_error), None) if detail else None
        reason = f"; {failing.server}: {failing.last_error}" if failing is not None else ""
        if effective_status(snap, mono_ns) is Status.STOPPED:
            reason = without_schedule(reason)
            return (
                f"the daemon at {self.shm_path} stopped before its first estimate (STOPPED, never "
                f"synchronised){reason}; start chronotick-daemon again once its servers answer"
            )
        return (
            f"the daemon at {self.shm_path} has no estimate yet (status {snap.status.name}){reason}; "
            "`chronotick-client status` (or the MCP tool get_daemon_status) shows each server's state"
        )

    def snapshot(self) -> Snapshot:
        """The raw validated segment contents (for status displays)."""
        return self._refresh(time.monotonic_ns())

    # the fast path ---------------------------------------------------------------------------------

    def now_ns(self) -> tuple[int, int]:
        """(corrected Unix time in ns, 95% uncertainty in ns), with no object construction."""
        m = time.monotonic_ns()
        if m > self._check_after_ns:
            self._usable(m)
        d = m - self._anchor_ns
        return self._base_ns + m + int(self._drift * d), self._unc0_ns + int(self._rate * abs(d))

    def at_ns(self, mono_ns: int) -> tuple[int, int]:
        """(corrected Unix ns, 95% uncertainty ns) at the CLOCK_MONOTONIC instant `mono_ns`: what
        now_ns() gives when read at that instant, and what the C reader's ct_at() gives."""
        m = time.monotonic_ns()
        if m > self._check_after_ns:
            self._usable(m)
        d = mono_ns - self._anchor_ns
        return self._base_ns + mono_ns + int(self._drift * d), self._unc0_ns + int(self._rate * abs(d))

    # readings --------------------------------------------------------------------------------------

    def _reading(self, horizon_s: float) -> TimeReading:
        mono = time.monotonic_ns()
        real = time.time_ns()
        if mono > self._check_after_ns:
            self._usable(mono)
        snap = self._snap
        at = mono + round(horizon_s * 1e9)
        d = at - self._anchor_ns
        corrected_ns = self._base_ns + at + int(self._drift * d)
        unc = (self._unc0_ns + self._rate * abs(d)) / 1e9
        corrected = corrected_ns / 1e9
        last_ntp = snap.last_ntp_mono_ns
        return TimeReading(
            corrected,
            corrected_ns,
            real / 1e9 + horizon_s,
            unc,
            corrected - unc,
            corrected + unc,
            snap.confidence,
            self._source_name,
            self._status_name,
            (corrected_ns - real - round(horizon_s * 1e9)) / 1e9,
            self._drift,
            (mono - last_ntp) / 1e9 if last_ntp else None,
            horizon_s,
        )

    def get_time(self) -> TimeReading:
        """The corrected time now, with its 95% interval [earliest, latest]."""
        return self._reading(0.0)

    def get_future_time(self, seconds: float) -> TimeReading:
        """The corrected time `seconds` from now (0..3600), with the uncertainty it will have then."""
        if not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise ValueError("seconds must be a finite number")
        if not 0 <= seconds <= MAX_FUTURE_SECONDS:
            raise ValueError(f"seconds must be between 0 and {MAX_FUTURE_SECONDS:g}, got {seconds:g}")
        return self._reading(float(seconds))

    # status ----------------------------------------------------------------------------------------

    def status(self) -> Status:
        """The effective status: UNKNOWN when no daemon or no segment."""
        mono = time.monotonic_ns()
        try:
            return effective_status(self._refresh(mono), mono)
        except SegmentError:
            return Status.UNKNOWN

    def daemon_running(self) -> bool:
        """A live daemon: fresh heartbeat and not stopped (raises SegmentError without a segment)."""
        mono = time.monotonic_ns()
        snap = self._refresh(mono) if mono > self._check_after_ns or self._snap is None else self._snap
        age_s = (mono - snap.last_publish_mono_ns) / 1e9
        return not snap.stopped and age_s <= freshness_grace_s(snap.publish_rate_hz)

    def is_daemon_ready(self) -> bool:
        """True while a live daemon publishes a SYNCHRONIZED estimate."""
        return self.status() is Status.SYNCHRONIZED

    def wait_for_sync(self, timeout: float) -> bool:
        """Block until SYNCHRONIZED (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if self.is_daemon_ready():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def wait_until(self, target: float, tolerance_ms: float = 1.0) -> float:
        """Return no earlier than `target` (corrected Unix seconds), aiming within tolerance_ms after.

        Sleeps coarsely, then spins on the corrected clock. Returns the corrected time at wake-up.
        """
        if not math.isfinite(target):
            raise ValueError("target must be a finite Unix time")
        if not math.isfinite(tolerance_ms) or tolerance_ms <= 0:
            raise ValueError("tolerance_ms must be a positive number")
        target_ns = round(target * 1e9)
        now, _ = self.now_ns()
        if target_ns < now:
            raise ValueError(f"target is {(now - target_ns) / 1e9:.6f} s in the past")
        spin_ns = max(2_000_000, round(tolerance_ms * 1e6))
        while (remaining := target_ns - self.now_ns()[0]) > spin_ns:
            time.sleep((remaining - spin_ns) / 1e9)
        while (now := self.now_ns()[0]) < target_ns:
            pass
        return now / 1e9

    def get_daemon_info(self) -> DaemonInfo:
        """Daemon health (raises SegmentError when there is no segment)."""
        mono = time.monotonic_ns()
        snap = self._refresh(mono)
        status = effective_status(snap, mono)
        age = (mono - snap.last_publish_mono_ns) / 1e9
        return DaemonInfo(
            status=status.name,
            published_status=snap.status.name,
            running=not snap.stopped and age <= freshness_grace_s(snap.publish_rate_hz),
            stopped=snap.stopped,
            daemon_uptime=(snap.last_publish_mono_ns - snap.daemon_start_mono_ns) / 1e9,
            ntp_ready=snap.ntp_ready,
            models_ready=snap.models_ready,
            measurement_count=snap.sample_count,
            seconds_since_ntp=(mono - snap.last_ntp_mono_ns) / 1e9 if snap.last_ntp_mono_ns else None,
            seconds_since_update=age,
            publish_rate_hz=snap.publish_rate_hz,
            publish_count=snap.publish_count,
            average_latency_ms=snap.avg_latency_ms,
            source=snap.source.name.lower(),
            confidence=snap.confidence,
            generation=snap.generation,
            shm_path=self.shm_path,
        )

    def get_daemon_detail(self) -> DaemonDetail | None:
        """The daemon's status sidecar (per-server state, models, publish jitter); None when absent
        or unreadable. Informational: the segment is the source of truth."""
        return self._reader.detail()

    @property
    def native(self) -> bool:
        return self._native is not None

    def close(self) -> None:
        if self._native is not None:
            self._native.close()
        self._reader.close()
        self._snap = None
        self._check_after_ns = 0
        self._replace_check_ns = 0

    def __enter__(self) -> ChronoTickClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
