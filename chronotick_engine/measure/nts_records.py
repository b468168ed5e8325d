"""NTS-KE records (RFC 8915 section 4): the request we send and the parser for the server's answer.

A record is a critical bit and a 15-bit type, a 16-bit body length and the body. The parser is
strict: whatever a hostile or broken server sends ends the key exchange with one line saying why,
never an exception of another kind, and never a session built on a half-read answer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

END_OF_MESSAGE = 0
NEXT_PROTOCOL = 1
ERROR = 2
WARNING = 3
AEAD_ALGORITHM = 4
NEW_COOKIE = 5
NTPV4_SERVER = 6
NTPV4_PORT = 7
CRITICAL = 0x8000

DEFAULT_KE_PORT = 4460
PROTOCOL_NTPV4 = 0
AEAD_AES_SIV_CMAC_256 = 15

# Bounds on what we accept from a server: a well-behaved one sends about a kilobyte.
MAX_RESPONSE_BYTES = 16384
MAX_COOKIE_BYTES = 1024
MAX_COOKIES = 8
MAX_SERVER_NAME = 255

_HEADER = struct.Struct("!HH")
_U16 = struct.Struct("!H")
_ERRORS = {0: "unrecognized critical record", 1: "bad request", 2: "internal server error"}
_KNOWN = {END_OF_MESSAGE, NEXT_PROTOCOL, ERROR, WARNING, AEAD_ALGORITHM, NEW_COOKIE, NTPV4_SERVER, NTPV4_PORT}


class KeError(Exception):
    """A key exchange that cannot be used; str() is the one-line reason."""


@dataclass(frozen=True, slots=True)
class KeResponse:
    """What a server's complete answer gave us."""

    cookies: tuple[bytes, ...]
    server: str | None  # NTPv4 Server Negotiation: where to send NTP, if not the KE host
    port: int | None  # NTPv4 Port Negotiation
    aead: int


def record(rtype: int, body: bytes = b"", critical: bool = True) -> bytes:
    return _HEADER.pack(rtype | (CRITICAL if critical else 0), len(body)) + body


def ke_request() -> bytes:
    """NTPv4 as the next protocol, AES-SIV-CMAC-256 as the AEAD, then End of Message."""
    return (
        record(NEXT_PROTOCOL, _U16.pack(PROTOCOL_NTPV4))
        + record(AEAD_ALGORITHM, _U16.pack(AEAD_AES_SIV_CMAC_256))
        + record(END_OF_MESSAGE)
    )


def complete_length(data: bytes) -> int | None:
    """The length of the message in `data` up to and including End of Message, or None when more
    bytes are needed. Raises KeError when the message is already known to be unusable."""
    pos = 0
    while pos + _HEADER.size <= len(data):
        rtype, length = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        if end > MAX_RESPONSE_BYTES:
            raise KeError(f"response longer than {MAX_RESPONSE_BYTES} bytes")
        if end > len(data):
            return None
        if rtype & ~CRITICAL == END_OF_MESSAGE:
            return end
        pos = end
    if len(data) >= MAX_RESPONSE_BYTES:
        raise KeError(f"response longer than {MAX_RESPONSE_BYTES} bytes")
    return None


def _u16_list(body: bytes, what: str) -> list[int]:
    if len(body) % 2:
        raise KeError(f"{what} record of odd length {len(body)}")
    return [v for (v,) in _U16.iter_unpack(body)]


def _server_name(body: bytes) -> str:
    if not 0 < len(body) <= MAX_SERVER_NAME:
        raise KeError(f"server negotiation name of {len(body)} bytes")
    try:
        name = body.decode("ascii")
    except UnicodeDecodeError:
        raise KeError("server negotiation name is not ASCII") from None
    if not all(c.isalnum() or c in ".-:_" for c in name):
        raise KeError("server negotiation name has characters no host name has")
    return name


def parse_response(data: bytes) -> KeResponse:
    """The server's whole answer, which must end with End of Message and nothing after it."""
    if len(data) > MAX_RESPONSE_BYTES:
        raise KeError(f"response longer than {MAX_RESPONSE_BYTES} bytes")
    protocols: list[int] | None = None
    aead: list[int] | None = None
    cookies: list[bytes] = []
    server: str | None = None
    port: int | None = None
    pos, ended = 0, False
    while pos < len(data):
        if len(data) - pos < _HEADER.size:
            raise KeError("truncated record header")
        raw_type, length = _HEADER.unpack_from(data, pos)
        body = data[pos + _HEADER.size : pos + _HEADER.size + length]
        if len(body) != length:
            raise KeError(f"record of {length} bytes truncated to {len(body)}")
        pos += _HEADER.size + length
        rtype, critical = raw_type & ~CRITICAL, bool(raw_type & CRITICAL)
        if rtype == END_OF_MESSAGE:
            if length:
                raise KeError("End of Message record with a body")
            ended = True
            break
        if rtype == ERROR:
            (code,) = _u16_list(body, "error")[:1] or [-1]
            raise KeError(f"server sent error {code} ({_ERRORS.get(code, 'unknown')})")
        if rtype == WARNING:
            raise KeError(f"server sent warning {_u16_list(body, 'warning')[:1]}")
        if rtype == NEXT_PROTOCOL:
            if protocols is not None:
                raise KeError("more than one next-protocol record")
            protocols = _u16_list(body, "next-protocol")
        elif rtype == AEAD_ALGORITHM:
            if aead is not None:
                raise KeError("more than one AEAD record")
            aead = _u16_list(body, "AEAD")
        elif rtype == NEW_COOKIE:
            if not 0 < length <= MAX_COOKIE_BYTES:
                raise KeError(f"cookie of {length} bytes")
            if len(cookies) < MAX_COOKIES:
                cookies.append(body)
        elif rtype == NTPV4_SERVER:
            server = _server_name(body)
        elif rtype == NTPV4_PORT:
            if length != 2:
                raise KeError(f"port negotiation record of {length} bytes")
            (port,) = _U16.unpack(body)
            if port == 0:
                raise KeError("port negotiation to port 0")
        elif rtype not in _KNOWN and critical:
            raise KeError(f"unknown critical record type {rtype}")
    if not ended:
        raise KeError("no End of Message record")
    if pos != len(data):
        raise KeError(f"{len(data) - pos} bytes after End of Message")
    if protocols != [PROTOCOL_NTPV4]:
        raise KeError(f"server did not choose NTPv4 as the next protocol (got {protocols})")
    if aead != [AEAD_AES_SIV_CMAC_256]:
        raise KeError(f"server did not choose AEAD_AES_SIV_CMAC_256 (got {aead})")
    if not cookies:
        raise KeError("server sent no cookies")
    return KeResponse(tuple(cookies), server, port, AEAD_AES_SIV_CMAC_256)
