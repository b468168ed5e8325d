"""NTP measurement: one client exchange, validation of the reply, and per-server state.

Packets are parsed by ntplib; the exchange itself is done here so that the origin timestamp can
carry a random cookie that the reply must echo exactly (anti-spoofing, as chrony does), and so that
every local timestamp is taken on both CLOCK_REALTIME and CLOCK_MONOTONIC.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time
from dataclasses import dataclass

import ntplib

from chronotick_engine.measure import timestamps

DEFAULT_NTP_PORT = 123
NTP_PACKET_SIZE = 48
MAX_DATAGRAM = 4096  # an NTS reply carrying eight cookies is about a kilobyte
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
_TS = struct.Struct("!Q")


class Rejected(Exception):
    """A reply that must not be used; `reason` is a short counter key."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ClockSource:
    """The local clocks. A seam: tests substitute a clock that can be stepped or made to drift."""

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def realtime_ns(self) -> int:
        return time.time_ns()


SYSTEM_CLOCK = ClockSource()


@dataclass(frozen=True, slots=True)
class Exchange:
    """One validated client/server exchange."""

    server: str
    offset: float  # reference - local system time, seconds
    delay: float  # round-trip delay, seconds
    mono_ns: int  # CLOCK_MONOTONIC at the exchange midpoint
    real_minus_mono_ns: int  # CLOCK_REALTIME - CLOCK_MONOTONIC then (steps of the system clock move it)
    stratum: int
    root_distance: float
    authenticated: bool = False  # the reply passed NTS verification
    timestamping: str = "user"  # kernel (both ways), kernel-rx, or user: measure/timestamps.py


def ns_to_ntp(real_ns: int) -> int:
    secs, rem = divmod(real_ns, 1_000_000_000)
    return ((secs + NTP_EPOCH_OFFSET) % (1 << 32)) << 32 | (rem << 32) // 1_000_000_000


def _signed64(x: int) -> int:
    x &= (1 << 64) - 1
    return x - (1 << 64) if x >= 1 << 63 else x


def _ntp_diff_s(a: int, b: int) -> float:
    """a - b for 64-bit NTP timestamps, era-safe (valid within +-68 years)."""
    return _signed64(a - b) / 2**32


def build_request(cookie: int) -> bytes:
    """A mode-3, version-4 request whose transmit timestamp is the 64-bit random cookie."""
    return bytes([0x23]) + bytes(39) + _TS.pack(cookie)


def parse_reply(
    data: bytes,
    cookie: int,
    t1_real_ns: int,
    t4_real_ns: int,
    max_delay: float,
) -> tuple[float, float, int, float]:
    """Validate one reply; return (offset, delay, stratum, root_distance) or raise Rejected."""
    if len(data) < NTP_PACKET_SIZE:
        raise Rejected("truncated", f"{len(data)} bytes")
    pkt = ntplib.NTPPacket()
    try:
        pkt.from_data(data)
    except ntplib.NTPException as exc:
        raise Rejected("malformed", str(exc)) from None
    if pkt.mode != 4:
        raise Rejected("not_server_mode", f"mode {pkt.mode}")
    if pkt.version not in (3, 4):
        raise Rejected("bad_version", f"version {pkt.version}")
    if data[24:32] != _TS.pack(cookie):
        raise Rejected("origin_mismatch", "reply does not echo our request (spoofed or stale)")
    if pkt.stratum == 0:
        code = pkt.ref_id.to_bytes(4, "big").decode("ascii", "replace").strip("\x00")
        raise Rejected("kiss_of_death", code)
    if pkt.leap == 3 or pkt.stratum >= 16:
        raise Rejected("unsynchronised", f"leap {pkt.leap}, stratum {pkt.stratum}")
    (t2,) = _TS.unpack_from(data, 32)
    (t3,) = _TS.unpack_from(data, 40)
    if t2 == 0 or t3 == 0:
        raise Rejected("malformed", "zero server timestamp")
    t1, t4 = ns_to_ntp(t1_real_ns), ns_to_ntp(t4_real_ns)
    offset = (_ntp_diff_s(t2, t1) + _ntp_diff_s(t3, t4)) / 2.0
    delay = _ntp_diff_s(t4, t1) - _ntp_diff_s(t3, t2)
    root_distance = pkt.root_delay / 2.0 + pkt.root_dispersion
    if not (math.isfinite(offset) and math.isfinite(delay) and math.isfinite(root_distance)):
        raise Rejected("non_finite")
    if delay < -1e-6 or _ntp_diff_s(t3, t2) < -1e-6:
        raise Rejected("malformed", f"negative delay {delay:.6f}")
    delay = max(delay, 0.0)
    if delay > max_delay:
        raise Rejected("delay_too_high", f"{delay * 1e3:.1f} ms")
    return offset, delay, pkt.stratum, root_distance


@dataclass(frozen=True, slots=True)
class Transaction:
    """One request sent and the datagram taken as its answer, with the four local timestamps."""

    data: bytes
    t1_mono: int
    t1_real: int
    t4_mono: int
    t4_real: int
    timestamping: str = "user"

    def exchange(self, server: str, fields: tuple[float, float, int, float], authenticated: bool) -> Exchange:
        offset, delay, stratum, rdist = fields
        return Exchange(
            server=server,
            offset=offset,
            delay=delay,
            mono_ns=(self.t1_mono + self.t4_mono) // 2,
            real_minus_mono_ns=(self.t1_real - self.t1_mono + self.t4_real - self.t4_mono) // 2,
            stratum=stratum,
            root_distance=rdist,
            authenticated=authenticated,
            timestamping=self.timestamping,
        )


# Set (to anything) to take every timestamp in user space: a diagnostic, and how the tests show
# the fall back that a socket refusing kernel stamps gets.
USER_TIMESTAMPS_ENV = "CHRONOTICK_USER_TIMESTAMPS"
_PLAUSIBLE_NS = 1_000_000_000  # a kernel stamp further than this from ours is not believed


def transact(
    host: str, port: int, request: bytes, cookie: int, timeout: float, clock: ClockSource = SYSTEM_CLOCK
) -> Transaction:
    """Send `request` (whose transmit timestamp is `cookie`) and wait for the datagram that echoes
    it; raise OSError/TimeoutError when none comes. The kernel stamps both datagrams where it can
    (measure/timestamps.py); a substituted clock (tests, simulations) always stamps in user space."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    family, _, _, _, addr = infos[0]
    kernel = type(clock) is ClockSource and not os.environ.get(USER_TIMESTAMPS_ENV)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        rx_on, tx_on = timestamps.enable(sock) if kernel else (False, False)
        sock.settimeout(timeout)
        sock.connect(addr)  # a connected socket only receives from this server
        deadline = time.monotonic() + timeout
        t1_mono, t1_real = clock.monotonic_ns(), clock.realtime_ns()
        sock.send(request)
        stray: bytes | None = None
        stray_stamp: int | None = None
        while True:
            sock.settimeout(max(1e-3, deadline - time.monotonic()))
            try:
                data, k4 = (
                    timestamps.recv_stamped(sock, MAX_DATAGRAM) if rx_on else (sock.recv(MAX_DATAGRAM), None)
                )
            except TimeoutError:
                if stray is None:
                    raise
                # Only replies that do not answer this request came: say why they were refused
                # (truncated, spoofed or stale origin) rather than a bare timeout.
                data, k4 = stray, stray_stamp
                t4_real, t4_mono = clock.realtime_ns(), clock.monotonic_ns()
                break
            t4_real, t4_mono = clock.realtime_ns(), clock.monotonic_ns()
            if data[24:32] == _TS.pack(cookie) or time.monotonic() >= deadline:
                break
            stray, stray_stamp = data, k4  # skipped, not fatal: the genuine reply may still come
        rx = k4 is not None and 0 <= t4_real - k4 < _PLAUSIBLE_NS
        if rx:
            t4_mono -= t4_real - k4
            t4_real = k4
        k1 = timestamps.sent_stamp(sock) if tx_on else None
        tx = k1 is not None and 0 <= k1 - t1_real < _PLAUSIBLE_NS
        if tx:
            t1_mono += k1 - t1_real
            t1_real = k1
    stamping = "kernel" if rx and tx else "kernel-rx" if rx else "user"
    return Transaction(data, t1_mono, t1_real, t4_mono, t4_real, stamping)


def new_cookie() -> int:
    return int.from_bytes(os.urandom(8), "big")


def query(
    host: str, port: int, timeout: float, max_delay: float, clock: ClockSource = SYSTEM_CLOCK
) -> Exchange:
    """One plain (unauthenticated) exchange with host:port; raise Rejected (or OSError/TimeoutError)."""
    cookie = new_cookie()
    tr = transact(host, port, build_request(cookie), cookie, timeout, clock)
    fields = parse_reply(tr.data, cookie, tr.t1_real, tr.t4_real, max_delay)
    return tr.exchange(f"{host}:{port}", fields, authenticated=False)
