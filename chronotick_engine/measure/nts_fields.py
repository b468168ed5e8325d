"""NTS-protected NTP packets (RFC 8915 section 5): the request's extension fields and the checks
a reply must pass before anything in it is believed.

The AEAD is `cryptography`'s AES-SIV (AEAD_AES_SIV_CMAC_256 with a 256-bit key); nothing here is a
cryptographic primitive of our own. The authenticator covers the NTP header and every extension
field before it, so a reply whose timestamps were touched on the way fails verification.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

NTP_HEADER = 48
UNIQUE_IDENTIFIER = 0x0104
COOKIE = 0x0204
COOKIE_PLACEHOLDER = 0x0304
AUTHENTICATOR = 0x0404

NONCE_BYTES = 16
UID_BYTES = 32
MAX_PACKET = 4096

_FIELD = struct.Struct("!HH")


class FieldError(Exception):
    """A reply that fails the NTS checks: `reason` is the counter key, str() the one-line why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Field:
    ftype: int
    body: bytes  # with any padding the sender added
    start: int  # offset of the field's header in the packet


def _pad4(body: bytes) -> bytes:
    return body + bytes(-len(body) % 4)


def field(ftype: int, body: bytes) -> bytes:
    body = _pad4(body)
    return _FIELD.pack(ftype, _FIELD.size + len(body)) + body


def parse_fields(data: bytes, start: int = NTP_HEADER) -> list[Field]:
    """The extension fields from `start` to the end of `data`; each length a multiple of 4."""
    fields: list[Field] = []
    pos = start
    while pos < len(data):
        if len(data) - pos < _FIELD.size:
            raise FieldError("malformed", f"{len(data) - pos} stray bytes after the extension fields")
        ftype, length = _FIELD.unpack_from(data, pos)
        if length < _FIELD.size or length % 4 or pos + length > len(data):
            raise FieldError("malformed", f"extension field 0x{ftype:04x} has a bad length {length}")
        fields.append(Field(ftype, data[pos + _FIELD.size : pos + length], pos))
        pos += length
    return fields


def build_request(header: bytes, uid: bytes, cookie: bytes, placeholders: int, c2s: AESSIV) -> bytes:
    """header + Unique Identifier + Cookie + placeholders + Authenticator over all of it."""
    packet = bytearray(header)
    packet += field(UNIQUE_IDENTIFIER, uid)
    packet += field(COOKIE, cookie)
    for _ in range(placeholders):
        packet += field(COOKIE_PLACEHOLDER, bytes(len(cookie)))
    nonce = os.urandom(NONCE_BYTES)
    tag = c2s.encrypt(b"", [bytes(packet), nonce])  # nothing to encrypt: the cookie is opaque already
    packet += field(AUTHENTICATOR, struct.pack("!HH", len(nonce), len(tag)) + _pad4(nonce) + tag)
    return bytes(packet)


def _uid_of(fields: list[Field]) -> bytes | None:
    uids = [f.body for f in fields if f.ftype == UNIQUE_IDENTIFIER]
    return uids[0] if len(uids) == 1 else None


def is_nak(data: bytes, uid: bytes) -> bool:
    """An NTS NAK answering our request: kiss code NTSN, our Unique Identifier, no authenticator
    (the server could not read our cookie, so it cannot sign)."""
    if len(data) < NTP_HEADER or data[1] != 0 or data[12:16] != b"NTSN":
        return False
    try:
        fields = parse_fields(data)
    except FieldError:
        return False
    return _uid_of(fields) == uid


def verify_reply(data: bytes, uid: bytes, s2c: AESSIV) -> list[bytes]:
    """Check a reply's Unique Identifier and authenticator; return the cookies it carried
    encrypted. Raises FieldError; the NTP header's own checks are the caller's."""
    if len(data) > MAX_PACKET:
        raise FieldError("malformed", f"reply of {len(data)} bytes")
    fields = parse_fields(data)
    if not fields:
        raise FieldError("nts_unauthenticated", "reply has no NTS extension fields")
    if _uid_of(fields) != uid:
        raise FieldError("nts_uid_mismatch", "reply's Unique Identifier is not our request's")
    auth = [f for f in fields if f.ftype == AUTHENTICATOR]
    if len(auth) != 1:
        raise FieldError("nts_unauthenticated", f"reply has {len(auth)} authenticators")
    body = auth[0].body
    if len(body) < 4:
        raise FieldError("malformed", "authenticator too short")
    nonce_len, ct_len = struct.unpack_from("!HH", body)
    nonce_end = 4 + nonce_len + (-nonce_len % 4)
    nonce, ciphertext = body[4 : 4 + nonce_len], body[nonce_end : nonce_end + ct_len]
    if nonce_len == 0 or len(nonce) != nonce_len or ct_len < 16 or len(ciphertext) != ct_len:
        raise FieldError("malformed", f"authenticator lengths nonce {nonce_len}, ciphertext {ct_len}")
    try:
        plaintext = s2c.decrypt(ciphertext, [data[: auth[0].start], nonce])
    except InvalidTag:
        raise FieldError("nts_auth_failed", "reply's authenticator does not verify") from None
    # Fields after the authenticator are not covered by it: ignored, as RFC 8915 5.7 requires.
    try:
        inner = parse_fields(plaintext, 0)
    except FieldError as exc:
        raise FieldError("malformed", f"encrypted fields: {exc}") from None
    return [f.body for f in inner if f.ftype == COOKIE]
