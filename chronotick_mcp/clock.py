"""What a tool reads: a corrected reading from whichever engine serves, or, when there is no usable
estimate, the plain system clock with a one-line reason it is unverified. Every tool reads the
time through read_now(); no tool knows whether a daemon or the in-process engine answered."""

from __future__ import annotations

import time
from dataclasses import dataclass

from chronotick_engine import ChronoTickError, NotReadyError, Source, TimeReading
from chronotick_engine.embedded import ClockChoice, Served
from chronotick_engine.protocol.detail import DaemonDetail

UNVERIFIED = "UNVERIFIED"  # the status of a system-clock answer: no estimate stands behind it
MAX_REASON = 160  # characters of one server's error quoted in a note


class ToolFailure(Exception):
    """An error to return to the agent as an MCP error result (one line, no traceback)."""


@dataclass(frozen=True)
class Now:
    """A reading, or the system clock and why it is all there is."""

    served: Served
    reading: TimeReading | None
    system_unix: float
    note: str | None = None  # set exactly when reading is None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _who(served: Served) -> str:
    if served.embedded is not None:
        return f"the embedded engine (started {served.embedded.age_s():.1f} s ago)"
    return f"the ChronoTick daemon at {served.client.shm_path}"


def why_unsynchronised(served: Served, detail: DaemonDetail | None, cause: str | None = None) -> str:
    """One line: each failing server's reason, or what is still awaited."""
    chrony = detail.chrony if detail is not None else None
    if chrony is not None and chrony.nts_guard is not None and chrony.nts_guard.disrupted:
        g = chrony.nts_guard
        return (
            f"chronyd's interval {g.chrony_interval_ms} ms and the NTS-authenticated one {g.nts_interval_ms} ms "
            "disagree: chronyd may follow spoofed servers"
        )
    if chrony is not None and chrony.problem:
        return chrony.problem
    failing = [
        f"{s.server}: {_short(s.last_error)}" for s in (detail.servers if detail else []) if s.last_error
    ]
    if failing and (detail is None or detail.samples_accepted == 0):
        return "no time server answered yet: " + "; ".join(failing)
    if cause:
        return cause
    samples = 0 if detail is None else detail.samples_accepted
    return f"no synchronised estimate yet from {_who(served)}: {samples} NTP samples so far"


def unverified_note(served: Served, cause: str | None = None) -> str:
    return why_unsynchronised(served, served.client.get_daemon_detail(), cause) + (
        "; this is the system clock, unverified"
    )


def read_now(served: Served, horizon: float = 0.0) -> Now:
    """A reading at now + horizon from `served`. A daemon that is absent or not running is a
    ToolFailure when only the daemon may serve (the caller's choice is `daemon`); with no usable
    estimate, the system clock with its reason. A stale estimate is never served as current."""
    client = served.client
    try:
        if served.embedded is None and not client.daemon_running():
            info = client.get_daemon_info()
            why = "stopped" if info.stopped else f"silent for {info.seconds_since_update:.1f} s"
            raise ToolFailure(
                f"the ChronoTick daemon at {client.shm_path} is not running ({why}); start chronotick-daemon, "
                "or serve with --engine auto to fall back to the embedded engine"
            )
        reading = client.get_future_time(horizon) if horizon else client.get_time()
        return Now(served, reading, reading.system_timestamp)
    except NotReadyError:
        snap = client.snapshot()
        age = (time.monotonic_ns() - snap.last_publish_mono_ns) / 1e9
        cause = (
            None if snap.source is Source.NONE else f"the last estimate is void (last update {age:.1f} s ago)"
        )
        return Now(served, None, time.time() + horizon, unverified_note(served, cause))
    except ChronoTickError as exc:
        if served.embedded is None:
            raise ToolFailure(str(exc)) from None
        return Now(served, None, time.time() + horizon, unverified_note(served, str(exc)))


@dataclass
class ToolContext:
    """What every tool is handed: the engine choice and the server's local zone."""

    clock: ClockChoice  # which engine serves: a daemon's segment or the in-process engine
    local_zone: str  # the server's local zone (--local-timezone, $TZ, the system, UTC)

    def now(self, horizon: float = 0.0) -> Now:
        return read_now(self.clock.serve(), horizon)


def elapsed_ms(start: float) -> float:
    """Milliseconds since `start` (time.perf_counter()): every result's call_latency_ms."""
    return (time.perf_counter() - start) * 1e3
