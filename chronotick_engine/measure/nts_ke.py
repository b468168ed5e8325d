"""The NTS-KE client (RFC 8915 section 4): TLS 1.3 with ALPN `ntske/1`, a verified certificate for
the host we asked for, the records, and the two keys exported from the TLS session (RFC 5705).

pyOpenSSL carries the TLS because Python 3.11's `ssl` has no keying-material exporter. OpenSSL
verifies the chain against the system store or `ca_file`; `service_identity` checks that the
certificate names the host. The socket is non-blocking and every wait is bounded by one deadline,
so a server that stalls mid-handshake costs at most the timeout.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from OpenSSL import SSL
from service_identity import VerificationError
from service_identity.pyopenssl import verify_hostname, verify_ip_address

from chronotick_engine.measure.nts_records import (
    AEAD_AES_SIV_CMAC_256,
    DEFAULT_KE_PORT,
    PROTOCOL_NTPV4,
    KeError,
    complete_length,
    ke_request,
    parse_response,
)

ALPN = b"ntske/1"
EXPORTER_LABEL = b"EXPORTER-network-time-security"
KEY_BYTES = 32  # AEAD_AES_SIV_CMAC_256

__all__ = ["DEFAULT_KE_PORT", "KeResult", "key_exchange"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class KeResult:
    c2s: bytes
    s2c: bytes
    cookies: tuple[bytes, ...]
    ntp_host: str  # where NTP goes: the negotiated server, else the KE host
    ntp_port: int | None  # the negotiated port, if the server sent one
    duration_s: float


# X509_V_ERR_* codes a misconfigured server or trust store gives most often (OpenSSL's x509_vfy.h).
_VERIFY_ERRORS = {
    2: "unable to get issuer certificate",
    7: "certificate signature does not verify against the trusted CA",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in chain",
    20: "not signed by a trusted CA",
    21: "unable to verify the first certificate",
}


def _remember_failure(conn: SSL.Connection, cert: object, errno: int, depth: int, ok: int) -> bool:
    if not ok and conn.get_app_data() is None:
        conn.set_app_data(_VERIFY_ERRORS.get(errno, f"verify error {errno}"))
    return bool(ok)


def _context(ca_file: str | None) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    ctx.set_verify(SSL.VERIFY_PEER, _remember_failure)
    if ca_file:
        try:
            ctx.load_verify_locations(ca_file)
        except SSL.Error:
            raise KeError(f"cannot load CA file {ca_file}") from None
    else:
        ctx.set_default_verify_paths()
    ctx.set_alpn_protos([ALPN])
    return ctx


def _tls_reason(exc: SSL.Error) -> str:
    parts = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    reasons = [p[-1] for p in parts if isinstance(p, tuple) and p and p[-1]]
    return "TLS: " + (reasons[-1] if reasons else str(exc) or type(exc).__name__)


def _until(deadline: float, sock: socket.socket, step: Callable[[], T]) -> T:
    """Run a pyOpenSSL call on a non-blocking socket, waiting for I/O until the deadline."""
    while True:
        try:
            return step()
        except SSL.WantReadError:
            want: tuple[list, list] = ([sock], [])
        except SSL.WantWriteError:
            want = ([], [sock])
        left = deadline - time.monotonic()
        if left <= 0 or not any(select.select(*want, [], left)[:2]):
            raise KeError("timed out: the server stopped answering")


def _check_name(conn: SSL.Connection, host: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        check = verify_hostname
    else:
        check = verify_ip_address
    try:
        check(conn, host)
    except VerificationError:
        raise KeError(f"certificate is not valid for {host}") from None


def _read_message(conn: SSL.Connection, sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while (end := complete_length(data)) is None:
        try:
            chunk = _until(deadline, sock, lambda: conn.recv(4096))
        except (SSL.ZeroReturnError, SSL.SysCallError):
            chunk = b""
        if not chunk:
            raise KeError("connection closed before End of Message" if data else "server sent nothing")
        data += chunk
    return data[:end]


def key_exchange(host: str, port: int, ca_file: str | None, timeout: float) -> KeResult:
    """One NTS-KE with host:port. Raises KeError with a one-line reason."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    ctx = _context(ca_file)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise KeError(f"no TCP connection to {host}:{port} within {timeout:g} s") from None
    except OSError as exc:
        raise KeError(f"cannot connect: {exc.strerror or exc}") from None
    with sock:
        # Without it, Nagle holds the request behind the handshake's last flight until the
        # server's delayed ACK: 40 ms against chronyd for nothing.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = SSL.Connection(ctx, sock)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            conn.set_tlsext_host_name(host.encode("idna"))
        conn.set_connect_state()
        try:
            _until(deadline, sock, conn.do_handshake)
            if conn.get_protocol_version_name() != "TLSv1.3":
                raise KeError(f"server negotiated {conn.get_protocol_version_name()}, not TLS 1.3")
            if conn.get_alpn_proto_negotiated() != ALPN:
                raise KeError("server did not agree to ALPN ntske/1")
            _check_name(conn, host)
            _until(deadline, sock, lambda: conn.sendall(ke_request()))
            answer = parse_response(_read_message(conn, sock, deadline))
            context = bytes([0, PROTOCOL_NTPV4, 0, AEAD_AES_SIV_CMAC_256])
            c2s = conn.export_keying_material(EXPORTER_LABEL, KEY_BYTES, context + b"\x00")
            s2c = conn.export_keying_material(EXPORTER_LABEL, KEY_BYTES, context + b"\x01")
        except SSL.Error as exc:
            why = conn.get_app_data()
            raise KeError(_tls_reason(exc) + (f" ({why})" if why else "")) from None
        except OSError as exc:
            raise KeError(f"connection to {host}:{port} failed: {exc.strerror or exc}") from None
        try:
            conn.shutdown()
        except (SSL.Error, OSError):
            pass  # keys and cookies are in hand; a lost close_notify harms nothing
    return KeResult(
        c2s=c2s,
        s2c=s2c,
        cookies=answer.cookies,
        ntp_host=answer.server or host,
        ntp_port=answer.port,
        duration_s=time.monotonic() - t0,
    )
