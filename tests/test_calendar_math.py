"""Calendar arithmetic (chronotick_mcp/calendar_math.py) against `whenever`, an independent
implementation in Rust: shifts, differences and zone transitions in zones with DST, half-hour and
45-minute offsets, negative DST (Europe/Dublin), a skipped day (Pacific/Apia, 2011-12-30) and
transitions at midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from chronotick_mcp.calendar_math import (
    CalendarError,
    Duration,
    difference,
    parse_duration,
    shift,
    transition,
)

whenever = pytest.importorskip("whenever")

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Europe/Dublin",  # negative DST: winter is the "DST" side in the tz database
    "Pacific/Apia",  # skipped 2011-12-30 entirely
    "Asia/Kathmandu",  # +5:45
    "Asia/Kolkata",  # +5:30
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Australia/Adelaide",
    "America/St_Johns",  # -3:30 / -2:30
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Sao_Paulo",  # DST changed at midnight
    "America/Havana",  # DST at midnight
    "Asia/Beirut",  # DST at midnight
    "America/Santiago",
]
EXAMPLES = 1000

instants = st.floats(
    min_value=datetime(1950, 1, 1, tzinfo=UTC).timestamp(),
    max_value=datetime(2060, 1, 1, tzinfo=UTC).timestamp(),
).map(lambda t: round(t, 3))
small = st.integers(min_value=0, max_value=40)


def zoned(ts: float, key: str) -> datetime:
    return datetime.fromtimestamp(ts, ZoneInfo(key))


def oracle(ts: float, key: str):
    return whenever.Instant.from_timestamp(round(ts * 1e9), unit="nanosecond").to_tz(key)


durations = st.builds(
    lambda sign, y, mo, w, d, h, mi, s: (
        sign,
        {"years": y, "months": mo, "weeks": w, "days": d, "hours": h, "minutes": mi, "seconds": s},
    ),
    st.sampled_from([1, -1]),
    st.integers(0, 30),
    st.integers(0, 30),
    st.integers(0, 10),
    st.integers(0, 400),
    st.integers(0, 100),
    st.integers(0, 300),
    st.integers(0, 4000),
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.sampled_from(ZONES), instants, durations)
@example("Pacific/Apia", datetime(2011, 12, 29, 12, tzinfo=UTC).timestamp(), (1, {"days": 1}))
@example("America/New_York", datetime(2026, 1, 31, 14, tzinfo=UTC).timestamp(), (1, {"months": 1}))
@example("Europe/Dublin", datetime(2026, 3, 28, 1, 30, tzinfo=UTC).timestamp(), (1, {"days": 1}))
def test_shift_matches_whenever(key, ts, signed):
    sign, parts = signed
    parts = {k: sign * v for k, v in parts.items()}
    mine = shift(zoned(ts, key), Duration(**parts)).at
    theirs = oracle(ts, key).add(**parts, disambiguation="compatible")
    assert mine.timestamp() == pytest.approx(theirs.timestamp(unit="nanosecond") / 1e9, abs=1e-3), (
        key,
        ts,
        parts,
    )
    assert mine.isoformat()[:19] == theirs.to_plain().format_iso()[:19]


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.sampled_from(ZONES), instants, instants)
@example(
    "Pacific/Apia",
    datetime(2011, 12, 29, 12, tzinfo=UTC).timestamp(),
    datetime(2012, 1, 2, tzinfo=UTC).timestamp(),
)
def test_difference_matches_whenever_and_shifts_back(key, t1, t2):
    start, end = zoned(t1, key), zoned(t2, key)
    mine = difference(start, end)
    units = ["years", "months", "days", "hours", "minutes", "seconds"]
    theirs = oracle(t2, key).since(oracle(t1, key), in_units=[*units, "nanoseconds"])
    got = mine.parts
    want = dict(zip(units, [theirs.get(u) or 0 for u in units], strict=True))
    fraction = theirs.get("nanoseconds") or 0
    assert {k: got[k] for k in units[:5]} == {k: want[k] for k in units[:5]}, (key, t1, t2)
    assert got["seconds"] == pytest.approx(want["seconds"] + fraction / 1e9, abs=1e-3)
    back = shift(start, Duration(months=mine.months, days=mine.days)).at
    assert (back.astimezone(UTC) + mine.exact).timestamp() == pytest.approx(t2, abs=1e-6)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.sampled_from(ZONES), instants, st.booleans())
def test_transitions_match_whenever(key, ts, forward):
    mine = transition(zoned(ts, key), forward)
    o = oracle(ts, key)
    theirs = o.next_transition() if forward else o.prev_transition()
    if theirs is not None and abs(theirs.timestamp(unit="nanosecond") / 1e9 - ts) > 39 * 365 * 86400:
        assume(False)  # beyond the scan's horizon
    if theirs is None:
        assert mine is None
        return
    assert mine is not None, (key, ts, forward, theirs)
    assert mine.at.timestamp() == theirs.timestamp(unit="nanosecond") / 1e9, (key, ts, forward)


def test_clamping_gaps_and_folds_are_reported():
    ny = ZoneInfo("America/New_York")
    s = shift(datetime(2027, 1, 31, 9, tzinfo=ny), parse_duration("P1M"))
    assert s.at.date().isoformat() == "2027-02-28" and "clamped to 2027-02-28" in s.clamped
    gap = shift(datetime(2027, 3, 13, 2, 30, tzinfo=ny), parse_duration("P1D"))
    assert gap.placed.kind == "gap" and gap.at.hour == 3 and gap.at.minute == 30
    fold = shift(datetime(2027, 11, 6, 1, 30, tzinfo=ny), parse_duration("P1D"))
    assert fold.placed.kind == "fold" and fold.at.utcoffset() == timedelta(hours=-4)
    # 09:00 stays 09:00 across the change; 24 hours does not.
    assert shift(datetime(2027, 3, 13, 9, tzinfo=ny), parse_duration("P1D")).at.hour == 9
    assert shift(datetime(2027, 3, 13, 9, tzinfo=ny), parse_duration("PT24H")).at.hour == 10


@pytest.mark.parametrize(
    "text, parts",
    [
        ("P1M", {"months": 1}),
        ("-PT90M", {"minutes": -90}),
        ("P2W3D", {"weeks": 2, "days": 3}),
        ("P1Y2M3DT4H5M6.5S", {"years": 1, "months": 2, "days": 3, "hours": 4, "minutes": 5, "seconds": 6.5}),
        ("pt1h", {"hours": 1}),
        ("PT0,5S", {"seconds": 0.5}),
    ],
)
def test_iso_durations(text, parts):
    assert parse_duration(text) == Duration(**parts)


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "1M", "P1H", "P1.5D", "PT1H2", "P10001Y", "P99999999999999Y", "x" * 10**6]
)
def test_bad_durations_are_one_line_errors(text):
    with pytest.raises(CalendarError) as e:
        parse_duration(text)
    assert "\n" not in str(e.value)


@settings(max_examples=EXAMPLES, deadline=None)
@given(durations)
def test_duration_iso_round_trips_through_whenever(signed):
    sign, parts = signed
    d = Duration(**{k: sign * v for k, v in parts.items()})
    assert parse_duration(d.iso()) == d
    # whenever reads what we write as the same amounts
    theirs = whenever.ItemizedDelta.parse_iso(d.iso())
    for unit, value in parts.items():
        assert (theirs.get(unit) or 0) == sign * value, (d.iso(), unit)


def test_results_outside_the_calendar_are_errors():
    utc = ZoneInfo("UTC")
    with pytest.raises(CalendarError, match="years 1-9999"):
        shift(datetime(9999, 12, 1, tzinfo=utc), parse_duration("P1M"))
    with pytest.raises(CalendarError, match="years 1-9999"):
        shift(datetime(1, 1, 2, tzinfo=utc), parse_duration("-P2D"))
    with pytest.raises(CalendarError, match="years 1-9999"):
        shift(datetime(9999, 12, 31, 23, tzinfo=utc), parse_duration("PT2H"))
