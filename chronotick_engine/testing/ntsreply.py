"""The server's side of NTS-protected NTP, for parser tests and fuzzing: a reply to one of our
requests, sealed the way RFC 8915 section 5.7 says a server seals it."""

from __future__ import annotations

import os
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from chronotick_engine.measure.nts_fields import AUTHENTICATOR, COOKIE, UNIQUE_IDENTIFIER, field


def server_reply(header: bytes, uid: bytes, s2c_key: bytes, cookies: list[bytes]) -> bytes:
    """header + our Unique Identifier + an authenticator whose ciphertext holds `cookies`."""
    packet = header + field(UNIQUE_IDENTIFIER, uid)
    nonce = os.urandom(16)
    sealed = AESSIV(s2c_key).encrypt(b"".join(field(COOKIE, c) for c in cookies), [packet, nonce])
    return packet + field(AUTHENTICATOR, struct.pack("!HH", len(nonce), len(sealed)) + nonce + sealed)
