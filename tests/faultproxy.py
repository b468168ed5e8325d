"""A userspace UDP proxy in front of a real NTP server that misbehaves on demand.

It stands in for what cannot exist here: a misbehaving internet server. Modes can be changed while
it runs: drop a share of packets, delay replies, truncate or garble them, answer kiss-of-death,
shift the server's timestamps (a liar), or break the origin echo; and, against NTS, strip or flip
the authenticator, replay an old reply or graft another reply's extension fields onto this one.
`TcpRelay` passes an NTS-KE connection through untouched, so that a proxy on another loopback
address can sit where the key exchange says NTP goes.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import TypeVar


@dataclass
class Faults:
    drop: float = 0.0
    delay_s: float = 0.0  # on the reply
    request_delay_s: float = 0.0  # on the request: unequal request/reply delays make a path asymmetric
    spike_prob: float = 0.0  # share of replies held back an extra spike_s
    spike_s: float = 0.5
    truncate: bool = False
    garbage: bool = False
    kiss_of_death: bool = False
    shift_s: float = 0.0
    bad_origin: bool = False
    strip_auth: bool = False  # NTS: cut the authenticator field off the reply
    flip_auth: bool = False  # NTS: flip one bit of the authenticator
    replay: bool = False  # answer with the first reply this proxy forwarded
    foreign_fields: bool = False  # this reply's header, the previous reply's extension fields


def _last_field_start(packet: bytes) -> int:
    pos = last = 48
    while pos + 4 <= len(packet):
        (length,) = struct.unpack_from("!H", packet, pos + 2)
        if length < 4:
            break
        last, pos = pos, pos + length
    return last


def _shift(ts: bytes, seconds: float) -> bytes:
    (v,) = struct.unpack("!Q", ts)
    return struct.pack("!Q", (v + int(seconds * 2**32)) % (1 << 64))


class _Served:
    """A socket served by one thread until stop()."""

    sock: socket.socket
    _stop: threading.Event
    _thread: threading.Thread

    def start(self: _S) -> _S:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


_S = TypeVar("_S", bound=_Served)


class FaultProxy(_Served):
    def __init__(
        self,
        upstream_port: int,
        seed: int = 7,
        bind: str = "127.0.0.1",
        upstream_host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.upstream = (upstream_host, upstream_port)
        self.faults = Faults()
        self.rng = random.Random(seed)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind, port))
        self.bind = bind
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.forwarded = 0
        self._first: bytes | None = None
        self._previous: bytes | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"{self.bind}:{self.port}"

    def _mangle(self, reply: bytes) -> bytes:
        f = self.faults
        first, previous = self._first, self._previous
        self._first = first or reply
        self._previous = reply
        if f.replay and first is not None:
            return first
        if f.foreign_fields and previous is not None:
            return reply[:48] + previous[48:]
        if f.strip_auth:
            return reply[: _last_field_start(reply)]
        if f.flip_auth:
            return reply[:-1] + bytes([reply[-1] ^ 0x01])
        if f.truncate:
            return reply[:20]
        if f.garbage:
            return bytes(self.rng.getrandbits(8) for _ in range(48))
        if f.kiss_of_death:
            return bytes([0x24, 0]) + reply[2:12] + b"RATE" + reply[16:]
        if f.shift_s:
            reply = (
                reply[:32] + _shift(reply[32:40], f.shift_s) + _shift(reply[40:48], f.shift_s) + reply[48:]
            )
        if f.bad_origin:
            reply = reply[:24] + _shift(reply[24:32], 1.0) + reply[32:]
        return reply

    def _serve(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
            up.settimeout(1.0)
            while not self._stop.is_set():
                try:
                    data, client = self.sock.recvfrom(4096)
                except (TimeoutError, OSError):
                    continue
                if self.rng.random() < self.faults.drop:
                    continue
                if self.faults.request_delay_s:
                    time.sleep(self.faults.request_delay_s)
                try:
                    up.sendto(data, self.upstream)
                    reply, _ = up.recvfrom(4096)
                except (TimeoutError, OSError):
                    continue
                hold = self.faults.delay_s
                if self.faults.spike_prob and self.rng.random() < self.faults.spike_prob:
                    hold += self.faults.spike_s
                if hold:
                    time.sleep(hold)
                self.forwarded += 1
                self.sock.sendto(self._mangle(reply), client)


class TcpRelay(_Served):
    """Accepts TCP on bind:port and pipes each connection to upstream, byte for byte."""

    def __init__(self, upstream: tuple[str, int], bind: str, port: int = 0):
        self.upstream = upstream
        self.sock = socket.create_server((bind, port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            try:
                up = socket.create_connection(self.upstream, timeout=2)
            except OSError:
                conn.close()
                continue
            conn.settimeout(None)
            up.settimeout(None)
            threading.Thread(target=self._pipe, args=(conn, up), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, conn), daemon=True).start()


def main() -> None:
    """Run one proxy as a process (inside a network namespace, for the multi-node test): prints its
    port, then serves until killed."""
    import argparse
    import signal

    p = argparse.ArgumentParser()
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    p.add_argument("--request-delay-ms", type=float, default=0.0)
    p.add_argument("--reply-delay-ms", type=float, default=0.0)
    p.add_argument("--drop", type=float, default=0.0)
    args = p.parse_args()
    host, port = args.upstream.rsplit(":", 1)
    proxy = FaultProxy(int(port), bind=args.bind, upstream_host=host)
    proxy.faults.request_delay_s = args.request_delay_ms / 1e3
    proxy.faults.delay_s = args.reply_delay_ms / 1e3
    proxy.faults.drop = args.drop
    proxy.start()
    print(proxy.port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    proxy.stop()


if __name__ == "__main__":
    main()
