"""The NTS parsers on their own: KE records and NTP extension fields, with hypothesis. Whatever the
bytes, the only outcomes are a result or the parser's own one-line error."""

from __future__ import annotations

import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from hypothesis import given, settings
from hypothesis import strategies as st

from chronotick_engine.measure import nts_fields as nf
from chronotick_engine.measure import nts_records as nr
from chronotick_engine.measure.ntp import build_request as ntp_header
from chronotick_engine.testing.ntsreply import server_reply

U16 = struct.Struct("!H")
cookies_st = st.lists(st.binary(min_size=1, max_size=120), min_size=1, max_size=10)


def ke_answer(cookies: list[bytes], server: str | None = None, port: int | None = None, extra=b"") -> bytes:
    out = nr.record(nr.NEXT_PROTOCOL, U16.pack(0)) + nr.record(nr.AEAD_ALGORITHM, U16.pack(15))
    out += b"".join(nr.record(nr.NEW_COOKIE, c, critical=False) for c in cookies)
    if server is not None:
        out += nr.record(nr.NTPV4_SERVER, server.encode())
    if port is not None:
        out += nr.record(nr.NTPV4_PORT, U16.pack(port))
    return out + extra + nr.record(nr.END_OF_MESSAGE)


@given(cookies_st, st.none() | st.sampled_from(["ntp.example", "192.0.2.1", "2001:db8::1"]))
def test_a_valid_answer_parses_to_what_it_says(cookies, server):
    got = nr.parse_response(ke_answer(cookies, server, 1123))
    assert list(got.cookies) == cookies[: nr.MAX_COOKIES] and got.server == server and got.port == 1123


@given(cookies_st, st.integers(8, 0x7FFF), st.binary(max_size=40))
def test_unknown_records_are_ignored_unless_critical(cookies, rtype, body):
    assert nr.parse_response(ke_answer(cookies, extra=nr.record(rtype, body, critical=False))).cookies
    with pytest.raises(nr.KeError, match="unknown critical record"):
        nr.parse_response(ke_answer(cookies, extra=nr.record(rtype, body, critical=True)))


@pytest.mark.parametrize(
    "data, why",
    [
        (ke_answer([b"c"])[:-4], "no End of Message"),
        (ke_answer([b"c"]) + b"\0", "after End of Message"),
        (ke_answer([b"c"])[:9], "truncated"),
        (nr.record(nr.NEW_COOKIE, b"c" * 2000) + nr.record(nr.END_OF_MESSAGE), "cookie of 2000"),
        (ke_answer([b"c" * 100] * 200), "longer than"),
        (nr.record(nr.ERROR, U16.pack(1)) + nr.record(nr.END_OF_MESSAGE), "bad request"),
        (ke_answer([]), "no cookies"),
        (ke_answer([b"c"], port=0), "port 0"),
        (ke_answer([b"c"], server="bad name!"), "characters"),
        (nr.record(nr.NEXT_PROTOCOL, U16.pack(7)) + nr.record(nr.END_OF_MESSAGE), "NTPv4"),
    ],
)
def test_bad_answers_end_the_exchange_in_one_line(data, why):
    with pytest.raises(nr.KeError, match=why) as err:
        nr.parse_response(data)
    assert "\n" not in str(err.value)


@given(st.binary(max_size=600))
@settings(max_examples=400)
def test_any_bytes_give_an_answer_or_a_ke_error(data):
    try:
        nr.parse_response(data)
    except nr.KeError as exc:
        assert str(exc) and "\n" not in str(exc)
    try:
        nr.complete_length(data)
    except nr.KeError:
        pass


@given(cookies_st, st.integers(1, 64))
def test_the_message_is_complete_exactly_at_end_of_message(cookies, step):
    msg = ke_answer(cookies)
    for cut in range(0, len(msg), step):
        assert nr.complete_length(msg[:cut]) is None
    assert nr.complete_length(msg + b"trailing") == len(msg)


KEY = bytes(range(32))
UID = bytes(range(32, 64))
HEADER = bytes([0x24, 2, 6, 0xEC]) + bytes(44)


@given(st.lists(st.binary(min_size=4, max_size=100).filter(lambda c: len(c) % 4 == 0), max_size=8))
def test_a_sealed_reply_verifies_and_yields_its_cookies(cookies):
    assert nf.verify_reply(server_reply(HEADER, UID, KEY, cookies), UID, AESSIV(KEY)) == cookies


@given(st.data())
@settings(max_examples=300)
def test_any_bit_flipped_anywhere_is_refused(data):
    reply = bytearray(server_reply(HEADER, UID, KEY, [b"c" * 100, b"d" * 100]))
    bit = data.draw(st.integers(0, len(reply) * 8 - 1))
    reply[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(nf.FieldError):
        nf.verify_reply(bytes(reply), UID, AESSIV(KEY))


def test_another_key_or_another_uid_is_refused():
    reply = server_reply(HEADER, UID, KEY, [b"c" * 100])
    with pytest.raises(nf.FieldError) as e:
        nf.verify_reply(reply, UID, AESSIV(bytes(32)))
    assert e.value.reason == "nts_auth_failed"
    with pytest.raises(nf.FieldError) as e:
        nf.verify_reply(reply, bytes(32), AESSIV(KEY))
    assert e.value.reason == "nts_uid_mismatch"
    with pytest.raises(nf.FieldError) as e:
        nf.verify_reply(HEADER, UID, AESSIV(KEY))
    assert e.value.reason == "nts_unauthenticated"


@given(st.binary(max_size=1200))
@settings(max_examples=400)
def test_any_bytes_after_a_header_give_a_field_error(tail):
    try:
        nf.verify_reply(HEADER + tail, UID, AESSIV(KEY))
    except nf.FieldError as exc:
        assert exc.reason and "\n" not in str(exc)
    nf.is_nak(HEADER + tail, UID)


@given(st.binary(min_size=4, max_size=200).filter(lambda c: len(c) % 4 == 0), st.integers(0, 7))
def test_our_request_carries_uid_cookie_placeholders_and_a_valid_authenticator(cookie, placeholders):
    request = nf.build_request(ntp_header(1), UID, cookie, placeholders, AESSIV(KEY))
    fields = nf.parse_fields(request)
    kinds = [f.ftype for f in fields]
    assert kinds == [nf.UNIQUE_IDENTIFIER, nf.COOKIE] + [nf.COOKIE_PLACEHOLDER] * placeholders + [
        nf.AUTHENTICATOR
    ]
    assert fields[0].body == UID and fields[1].body == cookie
    assert all(f.body == bytes(len(cookie)) for f in fields[2:-1])
    auth = fields[-1].body
    nonce_len, ct_len = struct.unpack_from("!HH", auth)
    nonce, tag = auth[4 : 4 + nonce_len], auth[4 + nonce_len : 4 + nonce_len + ct_len]
    assert AESSIV(KEY).decrypt(tag, [request[: fields[-1].start], nonce]) == b""


def test_a_nak_is_recognised_only_with_our_uid():
    nak = bytes([0x24, 0, 6, 0xEC]) + bytes(8) + b"NTSN" + bytes(32) + nf.field(nf.UNIQUE_IDENTIFIER, UID)
    assert nf.is_nak(nak, UID)
    assert not nf.is_nak(nak, os.urandom(32))
    assert not nf.is_nak(HEADER + nf.field(nf.UNIQUE_IDENTIFIER, UID), UID)
