"""The host's chronyd as a source: its tracking report, read through its command socket with
pychrony (which binds the chrony project's own libchrony; never chronyc's text).

chronyd usually disciplines the clock with kernel timestamps and may follow a PTP clock or a LAN
server, so on such a host its view is microseconds where ChronoTick's own exchanges from user
space give milliseconds. Its worst-case error is ClockBound's and fbclock's formula:
root_delay/2 + root_dispersion around the time it steers to, which is the system clock plus its
remaining correction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

DEFAULT_SOCKET = "/run/chrony/chronyd.sock"


class ChronyUnavailable(Exception):
    """chronyd cannot be read: one line saying why."""


@dataclass(frozen=True, slots=True)
class ChronyReport:
    """One tracking report, with when it was read."""

    mono_ns: int  # CLOCK_MONOTONIC when read
    real_ns: int  # CLOCK_REALTIME when read
    reference: str  # the source chronyd follows (address or reference name)
    stratum: int
    leap: str  # NORMAL, INSERT, DELETE or UNSYNC
    ref_time: float  # Unix seconds of chronyd's last clock update
    correction: float  # true time - system time, s: what chronyd has still to correct
    root_delay: float  # s
    root_dispersion: float  # s
    skew_ppm: float  # chronyd's bound on its frequency error
    frequency_ppm: float
    rms_offset: float  # s
    update_interval: float  # s

    @property
    def half_width(self) -> float:
        """ClockBound's worst case around system + correction: root_delay/2 + root_dispersion."""
        return self.root_delay / 2 + self.root_dispersion

    @property
    def age_s(self) -> float:
        """Seconds from chronyd's last clock update to this read."""
        return self.real_ns / 1e9 - self.ref_time

    def problem(self, max_reference_age_s: float) -> str | None:
        """Why this report must not be served as SYNCHRONIZED, in one line; None when it may."""
        if self.leap == "UNSYNC" or self.stratum >= 16:
            return f"chronyd reports leap status 'not synchronised' (stratum {self.stratum})"
        if self.age_s > max_reference_age_s:
            return f"chronyd's reference is stale: its last update was {self.age_s:.0f} s ago"
        return None


class ChronyReader:
    """A connection to chronyd's command socket, opened on first use and again after a failure."""

    def __init__(self, socket_path: str = DEFAULT_SOCKET):
        self.socket_path = socket_path
        self._conn: Any = None

    def _connect(self) -> Any:
        try:
            from pychrony import ChronyConnection
        except ImportError:
            raise ChronyUnavailable(
                "the chrony source needs pychrony: pip install 'chronotick[chrony]'"
            ) from None
        conn = ChronyConnection(self.socket_path)
        try:
            conn.__enter__()
        except Exception as exc:  # pychrony raises its own hierarchy and OSError
            raise ChronyUnavailable(
                f"chronyd at {self.socket_path} does not answer: {_one_line(exc)}"
            ) from None
        return conn

    def read(self) -> ChronyReport:
        if self._conn is None:
            self._conn = self._connect()
        try:
            t = self._conn.get_tracking()
        except Exception as exc:
            self.close()
            raise ChronyUnavailable(
                f"chronyd at {self.socket_path} does not answer: {_one_line(exc)}"
            ) from None
        return ChronyReport(
            mono_ns=time.monotonic_ns(),
            real_ns=time.time_ns(),
            reference=t.reference_ip or t.reference_id_name,
            stratum=t.stratum,
            leap=t.leap_status.name,
            ref_time=t.ref_time,
            # chronyd's "System time" is its current correction: positive when the clock is slow.
            correction=t.offset,
            root_delay=t.root_delay,
            root_dispersion=t.root_dispersion,
            skew_ppm=t.skew,
            frequency_ppm=t.frequency,
            rms_offset=t.rms_offset,
            update_interval=t.update_interval,
        )

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.__exit__(None, None, None)
            except Exception:  # closing a broken connection has nothing left to report
                pass
            self._conn = None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
