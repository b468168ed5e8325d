"""Kernel timestamps for NTP datagrams, as chrony takes them.

A timestamp taken in user space after recv() returns includes the wait to be scheduled, and under
CPU load that wait adds to the measured delay and shifts the offset by half of it. The kernel
stamps a datagram when it arrives (SO_TIMESTAMPNS) and when it leaves (SO_TIMESTAMPING, software
transmit stamps read back from the socket's error queue). Both are CLOCK_REALTIME; the monotonic
instant is derived through the realtime - monotonic relation read beside it.

Where a socket refuses (another OS, a sandbox), the exchange falls back to user-space stamps and
says so: Exchange.timestamping is "kernel" or "user".
"""

from __future__ import annotations

import socket
import struct
import sys

_LINUX = sys.platform.startswith("linux")
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_TIMESTAMPING = getattr(socket, "SO_TIMESTAMPING", 37)
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
# linux/net_tstamp.h: stamp in software on transmit, report software stamps, and loop back only
# the stamp (not the packet) on the error queue.
SOF_TX_SOFTWARE = 1 << 1
SOF_SOFTWARE = 1 << 4
SOF_OPT_TSONLY = 1 << 11
_TIMESPEC = struct.Struct("@qq")
_ANC = socket.CMSG_SPACE(3 * _TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0


def enable(sock: socket.socket) -> tuple[bool, bool]:
    """Ask the kernel to stamp datagrams on this socket: (receive stamps on, transmit stamps on)."""
    if not _LINUX or not _ANC:
        return False, False
    rx = tx = True
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        rx = False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, SOF_TX_SOFTWARE | SOF_SOFTWARE | SOF_OPT_TSONLY)
    except OSError:
        tx = False
    return rx, tx


def _timespec_ns(data: bytes) -> int | None:
    if len(data) < _TIMESPEC.size:
        return None
    sec, nsec = _TIMESPEC.unpack_from(data)
    return sec * 1_000_000_000 + nsec if sec or nsec else None


def recv_stamped(sock: socket.socket, size: int) -> tuple[bytes, int | None]:
    """(datagram, its kernel receive stamp in CLOCK_REALTIME ns, or None)."""
    data, ancdata, _flags, _addr = sock.recvmsg(size, _ANC)
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            return data, _timespec_ns(payload)
    return data, None


def sent_stamp(sock: socket.socket) -> int | None:
    """The kernel's transmit stamp of the last datagram sent (CLOCK_REALTIME ns), from the error
    queue; None when there is none (not enabled, or not yet queued)."""
    # Non-blocking, or Python waits out the socket's timeout for data once the queue is empty.
    sock.setblocking(False)
    stamp = None
    for _ in range(4):  # one entry per datagram sent; take the last
        try:
            _data, ancdata, _flags, _addr = sock.recvmsg(1, _ANC, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError, OSError):
            break
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING:
                stamp = _timespec_ns(payload[: _TIMESPEC.size]) or stamp
    return stamp
