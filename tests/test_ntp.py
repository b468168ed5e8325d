"""NTP reply validation and cross-server selection."""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronotick_engine.measure.ntp import Exchange, Rejected, ns_to_ntp, parse_reply
from chronotick_engine.measure.selection import select

COOKIE = 0x1234_5678_9ABC_DEF0


def reply(
    offset=0.001,
    server_hold=50e-6,
    *,
    li=0,
    version=4,
    mode=4,
    stratum=2,
    ref=b"GPS\x00",
    origin=COOKIE,
    t1=None,
    rtt=200e-6,
):
    t1 = t1 or time.time_ns()
    t2 = ns_to_ntp(t1 + int((rtt / 2 + offset) * 1e9))
    t3 = ns_to_ntp(t1 + int((rtt / 2 + offset + server_hold) * 1e9))
    head = struct.pack("!BBbbII4s", li << 6 | version << 3 | mode, stratum, 6, -20, 0, 0, ref)
    pkt = head + struct.pack("!QQQQ", t2, origin, t2, t3)
    t4 = t1 + int((rtt + server_hold) * 1e9)
    return pkt, t1, t4


def test_valid_reply():
    pkt, t1, t4 = reply(offset=0.0025)
    offset, delay, stratum, _ = parse_reply(pkt, COOKIE, t1, t4, 1.0)
    assert offset == pytest.approx(0.0025, abs=2e-6) and delay == pytest.approx(200e-6, abs=2e-6)
    assert stratum == 2


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"stratum": 0, "ref": b"RATE"}, "kiss_of_death"),
        ({"stratum": 16}, "unsynchronised"),
        ({"li": 3}, "unsynchronised"),
        ({"origin": 42}, "origin_mismatch"),
        ({"mode": 3}, "not_server_mode"),
        ({"rtt": 0.5}, "delay_too_high"),
    ],
)
def test_bad_replies_are_rejected_with_a_reason(kwargs, reason):
    pkt, t1, t4 = reply(**kwargs)
    with pytest.raises(Rejected) as err:
        parse_reply(pkt, COOKIE, t1, t4, 0.2)
    assert err.value.reason == reason


def test_truncated_reply():
    pkt, t1, t4 = reply()
    with pytest.raises(Rejected, match="truncated"):
        parse_reply(pkt[:47], COOKIE, t1, t4, 1.0)


@settings(max_examples=5000, deadline=None)
@given(st.binary(max_size=96))
def test_fuzzed_replies_only_ever_raise_rejected(data):
    t = time.time_ns()
    try:
        offset, delay, _, _ = parse_reply(data, COOKIE, t, t + 1000, 1.0)
    except Rejected:
        return
    raise AssertionError(f"accepted random bytes as a reply: {offset}, {delay}")


@settings(max_examples=2000, deadline=None)
@given(st.binary(min_size=48, max_size=48), st.integers(0, 2**64 - 1))
def test_fuzzed_replies_echoing_our_cookie_never_crash(data, cookie):
    data = data[:24] + struct.pack("!Q", cookie) + data[32:]
    t = time.time_ns()
    try:
        parse_reply(data, cookie, t, t + 1000, 1.0)
    except Rejected:
        pass


def ex(name, offset, delay=200e-6):
    return Exchange(name, offset, delay, 0, 0, 2, 0.0)


def test_single_liar_of_three_is_excluded():
    s = select([ex("a", 0.0001), ex("b", 0.00012), ex("liar", 1.0001)])
    assert [x.server for x in s.falsetickers] == ["liar"] and s.majority


def test_internet_delays_all_kept():
    s = select([ex("a", 0.002, 0.030), ex("b", -0.004, 0.040), ex("c", 0.010, 0.025)])
    assert not s.falsetickers


def test_two_disagreeing_servers_cannot_be_judged():
    s = select([ex("a", 0.0), ex("b", 1.0)])
    assert not s.majority and len(s.truechimers) == 2


def test_combined_prefers_low_delay():
    m = select([ex("near", 0.001, 0.0002), ex("far", 0.003, 0.050)]).combined()
    assert m is not None and abs(m.offset - 0.001) < 1e-4
    # Its delay weighs the paths as its offset does: near the best path's, never below it, so
    # that delay/2 still bounds the combined offset's error.
    assert 0.0002 <= m.delay < 0.0003
