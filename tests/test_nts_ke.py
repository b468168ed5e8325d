"""The NTS-KE client against hostile TLS servers on loopback: real TLS (the stdlib's server side),
real certificates from the test CA, answers crafted to be wrong. Each ends the key exchange with
one line, within the timeout, and nothing else."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time

import pytest

from chronotick_engine.measure import nts_records as nr
from chronotick_engine.measure.nts_ke import key_exchange
from chronotick_engine.testing.certs import TestCA

U16 = struct.Struct("!H")
GOOD_HEAD = nr.record(nr.NEXT_PROTOCOL, U16.pack(0)) + nr.record(nr.AEAD_ALGORITHM, U16.pack(15))
TIMEOUT = 1.5


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("ke-pki"))
    return ca, ca.issue("ke", ["localhost"], ["127.0.0.1"])


class HostileServer:
    """Accepts one TLS connection, reads the request, sends `answer` (or stalls), closes."""

    def __init__(self, cert, answer: bytes | None, alpn: bool = True, tls12: bool = False, tls: bool = True):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert.cert_file, cert.key_file)
        if tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if alpn:
            ctx.set_alpn_protocols(["ntske/1"])
        self.ctx, self.answer, self.tls = ctx, answer, tls
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        try:
            if not self.tls:
                conn.sendall(b"HTTP/1.0 400 not TLS\r\n\r\n")
                return
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1024)
                if self.answer is None:
                    self._done.wait(5)  # stall
                    return
                tls.sendall(self.answer)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._done.set()
        self.sock.close()


CASES = {
    "unknown critical record": (
        dict(answer=GOOD_HEAD + nr.record(0x1234, b"x") + nr.record(0)),
        "unknown critical",
    ),
    "truncated then closed": (
        dict(answer=GOOD_HEAD + nr.record(nr.NEW_COOKIE, b"c" * 50)[:20]),
        "closed before",
    ),
    "oversized": (dict(answer=GOOD_HEAD + nr.record(nr.NEW_COOKIE, b"c" * 1000) * 20), "longer than"),
    "no End of Message": (dict(answer=GOOD_HEAD + nr.record(nr.NEW_COOKIE, b"c" * 64)), "closed before"),
    "error record": (dict(answer=nr.record(nr.ERROR, U16.pack(2)) + nr.record(0)), "internal server error"),
    "stalls": (dict(answer=None), "timed out"),
    "no ALPN": (dict(answer=b"", alpn=False), "ALPN ntske/1"),
    "TLS 1.2 only": (dict(answer=b"", tls12=True), "TLS: "),
    "not TLS at all": (dict(answer=b"", tls=False), "TLS: "),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_servers_end_the_key_exchange_in_one_line(pki, case):
    ca, cert = pki
    kwargs, why = CASES[case]
    server = HostileServer(cert, **kwargs)
    t0 = time.monotonic()
    try:
        with pytest.raises(nr.KeError) as err:
            key_exchange("127.0.0.1", server.port, str(ca.ca_file), TIMEOUT)
    finally:
        server.close()
    elapsed = time.monotonic() - t0
    print(f"{case}: {err.value}")
    assert why in str(err.value), str(err.value)
    assert "\n" not in str(err.value)
    assert elapsed < TIMEOUT + 1.0, f"took {elapsed:.2f} s"


def test_a_good_answer_over_real_tls_gives_keys_and_cookies(pki):
    ca, cert = pki
    server = HostileServer(
        cert,
        GOOD_HEAD
        + nr.record(nr.NEW_COOKIE, b"k" * 64)
        + nr.record(nr.NTPV4_PORT, U16.pack(4123))
        + nr.record(0),
    )
    try:
        ke = key_exchange("localhost", server.port, str(ca.ca_file), TIMEOUT)
    finally:
        server.close()
    assert ke.cookies == (b"k" * 64,) and ke.ntp_port == 4123 and ke.ntp_host == "localhost"
    assert len(ke.c2s) == len(ke.s2c) == 32 and ke.c2s != ke.s2c


def test_failed_key_exchanges_back_off_exponentially(monkeypatch):
    from types import SimpleNamespace

    from chronotick_engine.measure import nts
    from chronotick_engine.measure.ntp import Rejected
    from chronotick_engine.testing.localntp import free_tcp_port

    now = [1000.0]
    monkeypatch.setattr(nts, "time", SimpleNamespace(monotonic=lambda: now[0], time=lambda: now[0]))
    attempts = []

    def refuse(host, port, ca_file, timeout):
        attempts.append(now[0])
        raise nr.KeError("cannot connect: Connection refused")

    monkeypatch.setattr(nts, "key_exchange", refuse)
    session = nts.NtsSession("s", "127.0.0.1", None, free_tcp_port(), None)
    for _ in range(40):
        with pytest.raises(Rejected) as err:
            session.query(0.5, 1.0)
        assert err.value.reason == "nts_ke_failed" and "Connection refused" in str(err.value)
        now[0] += 1.0
    waits = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    assert waits[:4] == [2.0, 4.0, 8.0, 16.0], waits  # one poll a second; KE only when the backoff allows
    assert session.state().key_exchanges == 0
