"""The calendar tools' logic on an in-memory ToolContext (a fixed corrected now, no segment), in the
official time server's style: relative expressions an agent sends, shifts, business days against
the holidays calendars, RFC 5545 expansion against recurring-ical-events, honesty at midnight, and
bad input as one-line errors."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from toolctx import context

from chronotick_mcp import tools
from chronotick_mcp.clock import ToolFailure

NOW = "2026-12-04T15:30:00+09:00"  # a Friday afternoon in Tokyo
TOKYO = "Asia/Tokyo"


def call(name: str, args: dict, ctx=None):
    return tools.BY_NAME[name].call(ctx or context(NOW, zone=TOKYO), args)


# Each form with the instant it must read as, against NOW in Tokyo. A date reads as its 00:00.
RELATIVE = [
    ("now", "2026-12-04T15:30:00+09:00"),
    ("today", "2026-12-04T00:00:00+09:00"),
    ("tomorrow", "2026-12-05T00:00:00+09:00"),
    ("yesterday", "2026-12-03T00:00:00+09:00"),
    ("the day after tomorrow", "2026-12-06T00:00:00+09:00"),
    ("day before yesterday", "2026-12-02T00:00:00+09:00"),
    ("tomorrow 9am", "2026-12-05T09:00:00+09:00"),
    ("tomorrow at noon", "2026-12-05T12:00:00+09:00"),
    ("5pm tomorrow", "2026-12-05T17:00:00+09:00"),
    ("9am", "2026-12-04T09:00:00+09:00"),
    ("noon", "2026-12-04T12:00:00+09:00"),
    ("midnight", "2026-12-04T00:00:00+09:00"),
    ("tonight", "2026-12-04T20:00:00+09:00"),
    ("15:00", "2026-12-04T15:00:00+09:00"),
    ("08:05:30", "2026-12-04T08:05:30+09:00"),
    ("next friday", "2026-12-11T00:00:00+09:00"),
    ("next friday at 3pm", "2026-12-11T15:00:00+09:00"),
    ("next tuesday 14:30", "2026-12-08T14:30:00+09:00"),
    ("monday 10:00", "2026-12-07T10:00:00+09:00"),
    ("friday", "2026-12-11T00:00:00+09:00"),
    ("last monday", "2026-11-30T00:00:00+09:00"),
    ("in 3 hours", "2026-12-04T18:30:00+09:00"),
    ("in 90 minutes", "2026-12-04T17:00:00+09:00"),
    ("in 1.5 hours", "2026-12-04T17:00:00+09:00"),
    ("in 2 weeks", "2026-12-18T15:30:00+09:00"),
    ("in a week", "2026-12-11T15:30:00+09:00"),
    ("in 3 months", "2027-03-04T15:30:00+09:00"),
    ("in 1 day and 2 hours", "2026-12-05T17:30:00+09:00"),
    ("in 2 days, 3 hours", "2026-12-06T18:30:00+09:00"),
    ("3 days ago", "2026-12-01T15:30:00+09:00"),
    ("2 hours ago", "2026-12-04T13:30:00+09:00"),
    ("a week ago", "2026-11-27T15:30:00+09:00"),
    ("10 minutes from now", "2026-12-04T15:40:00+09:00"),
    ("end of month", "2026-12-31T23:59:59.999999+09:00"),
    ("end of the month", "2026-12-31T23:59:59.999999+09:00"),
    ("start of next month", "2027-01-01T00:00:00+09:00"),
    ("beginning of month", "2026-12-01T00:00:00+09:00"),
    ("end of year", "2026-12-31T23:59:59.999999+09:00"),
    ("start of next week", "2026-12-07T00:00:00+09:00"),
    ("end of week", "2026-12-06T23:59:59.999999+09:00"),
    ("start of last quarter", "2026-07-01T00:00:00+09:00"),
    ("end of next quarter", "2027-03-31T23:59:59.999999+09:00"),
    ("March 5", "2026-03-05T00:00:00+09:00"),
    ("5 March 2027", "2027-03-05T00:00:00+09:00"),
    ("Dec 25", "2026-12-25T00:00:00+09:00"),
    ("2027-01-15", "2027-01-15T00:00:00+09:00"),
    ("2027-01-15T09:00", "2027-01-15T09:00:00+09:00"),
    ("2027-01-15T09:00Z", "2027-01-15T18:00:00+09:00"),
    ("9am EST", "2026-12-04T23:00:00+09:00"),
    ("1796237100", "2026-12-03T03:45:00+09:00"),
]


@pytest.mark.parametrize("text, want", RELATIVE)
def test_relative_expressions_read_against_the_corrected_now(text, want):
    r = call("shift_time", {"base": text, "duration": "PT0S", "timezone": TOKYO})
    assert datetime.fromisoformat(r.base.iso) == datetime.fromisoformat(want), r.base_interpreted_as
    assert r.base.iso[:10] in r.base_interpreted_as  # the reading is echoed


REFUSED = [
    ("asdf", "cannot read"),
    ("01/02/2027", "reads two ways"),
    ("in 1.5 days", "must be whole"),
    ("25:00", "hours 0-23"),
    ("1e12", "looks like milliseconds"),
    ("x" * 201, "at most 200"),
    ("x" * 10**6, "at most 200"),
    ("9999-12-31T23:59:59+09:00 garbage", "invalid instant"),
]


@pytest.mark.parametrize("text, message", REFUSED)
def test_refused_forms_are_one_line_errors_naming_the_forms(text, message):
    with pytest.raises(ToolFailure) as e:
        call("shift_time", {"base": text, "duration": "P1D"})
    assert message in str(e.value) and "\n" not in str(e.value) and len(str(e.value)) < 400


SHIFTS = [
    (
        {"base": "2027-01-31T09:00", "duration": "P1M", "timezone": "America/New_York"},
        "2027-02-28T09:00:00-05:00",
    ),
    ({"base": "2027-03-13T09:00", "days": 1, "timezone": "America/New_York"}, "2027-03-14T09:00:00-04:00"),
    ({"base": "2027-03-13T09:00", "hours": 24, "timezone": "America/New_York"}, "2027-03-14T10:00:00-04:00"),
    (
        {"base": "2027-03-13T02:30", "duration": "P1D", "timezone": "America/New_York"},
        "2027-03-14T03:30:00-04:00",
    ),
    (
        {"base": "2027-11-06T01:30", "duration": "P1D", "timezone": "America/New_York"},
        "2027-11-07T01:30:00-04:00",
    ),
    ({"base": "2024-02-29", "years": 1, "timezone": "UTC"}, "2025-02-28T00:00:00+00:00"),
    (
        {"base": "2011-12-29T12:00", "duration": "P1D", "timezone": "Pacific/Apia"},
        "2011-12-31T12:00:00+14:00",
    ),
    (
        {"base": "2027-06-01T12:00", "duration": "-PT90M", "timezone": "Asia/Kathmandu"},
        "2027-06-01T10:30:00+05:45",
    ),
    ({"base": "2027-01-01", "duration": "P2W3D", "timezone": "UTC"}, "2027-01-18T00:00:00+00:00"),
]


@pytest.mark.parametrize("args, want", SHIFTS)
def test_shift_time(args, want):
    r = call("shift_time", args)
    assert r.result.iso == want and r.based_on_now is False and r.date_certain is True


def test_shift_time_says_it_clamped_and_names_the_dst_rule():
    r = call("shift_time", {"base": "2027-01-31T09:00", "duration": "P1M", "timezone": "America/New_York"})
    assert "2027-02-31 does not exist" in r.clamped
    gap = call("shift_time", {"base": "2027-03-13T02:30", "duration": "P1D", "timezone": "America/New_York"})
    assert "does not exist" in gap.wall_clock_adjustment and "RFC 5545" in gap.wall_clock_adjustment
    fold = call("shift_time", {"base": "2027-11-06T01:30", "duration": "P1D", "timezone": "America/New_York"})
    assert "occurs twice" in fold.wall_clock_adjustment


def test_the_90_days_from_now_in_tokyo_question():
    r = call("shift_time", {"duration": "P90D", "timezone": TOKYO})
    assert r.result.date == "2027-03-04" and r.based_on_now and r.date_certain
    assert r.earliest < r.result.unix < r.latest and r.status == "SYNCHRONIZED"


def test_time_between_calendar_parts_shift_back():
    r = call("time_between", {"start": "2027-01-31T10:00", "end": "2027-03-01T09:30", "timezone": "UTC"})
    assert r.calendar.model_dump() == {
        "years": 0,
        "months": 1,
        "days": 0,
        "hours": 23,
        "minutes": 30,
        "seconds": 0.0,
    }
    back = call(
        "shift_time", {"base": "2027-01-31T10:00", "months": 1, "hours": 23, "minutes": 30, "timezone": "UTC"}
    )
    assert back.result.iso == "2027-03-01T09:30:00+00:00"
    assert r.calendar_days == 29 and r.total_days == pytest.approx(r.seconds / 86400)


BUSINESS = [
    ("DE", "BY", "Europe/Berlin"),
    ("US", "CA", "America/Los_Angeles"),
    ("AU", "NSW", "Australia/Sydney"),
    ("CA", "QC", "America/Toronto"),
]


@pytest.mark.parametrize("country, subdivision, zone", BUSINESS)
@settings(max_examples=60, deadline=None)
@given(start=st.dates(date(2020, 1, 1), date(2030, 12, 31)), span=st.integers(-400, 400))
def test_business_days_match_the_holidays_calendars(country, subdivision, zone, start, span):
    import holidays

    end = start + timedelta(days=span)
    cal = holidays.country_holidays(country, subdiv=subdivision)
    lo, hi = sorted((start, end))
    days = [lo + timedelta(days=i) for i in range(1, (hi - lo).days + 1)]
    want = sum(1 for d in days if d.weekday() < 5 and d not in cal) * (1 if end >= start else -1)
    bc = {"country": country, "subdivision": subdivision}
    r = call(
        "time_between",
        {"start": start.isoformat(), "end": end.isoformat(), "timezone": zone, "business_days": bc},
    )
    assert r.business_days == want
    assert {h.date for h in r.holidays_skipped} == {
        d.isoformat() for d in days if d.weekday() < 5 and d in cal
    }
    if want:
        added = call("add_business_days", {"start": start.isoformat(), "days": want, "timezone": zone, **bc})
        assert (
            added.result_date == max(d for d in days if d.weekday() < 5 and d not in cal).isoformat()
            if want > 0
            else True
        )


def test_business_days_until_a_deadline_in_bavaria():
    ctx = context("2026-12-04T10:00:00+01:00", zone="Europe/Berlin")
    r = call(
        "time_between", {"end": "2027-01-15", "business_days": {"country": "DE", "subdivision": "BY"}}, ctx
    )
    assert r.business_days == 27
    assert [h.names[0] for h in r.holidays_skipped] == [
        "Christmas Day",
        "Second Day of Christmas",
        "New Year's Day",
        "Epiphany",
    ][: len(r.holidays_skipped)] or r.holidays_skipped
    assert "2027-01-06" in {h.date for h in r.holidays_skipped}


@pytest.mark.parametrize(
    "args, message",
    [
        ({"country": "XX", "days": 1}, "unknown country"),
        ({"country": "Germny", "days": 1}, "did you mean"),
        ({"country": "DE", "subdivision": "XY", "days": 1}, "did you mean 'BY'"),
        ({"country": "DE", "days": 10**400}, "invalid argument days"),
        ({"country": "DE", "days": 10_001}, "invalid argument days"),
    ],
)
def test_business_day_errors(args, message):
    with pytest.raises(ToolFailure) as e:
        call("add_business_days", args)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_next_first_monday_at_nine_in_new_york():
    r = call(
        "next_occurrences",
        {"rrule": "FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0", "timezone": "America/New_York", "count": 3},
    )
    assert [o.iso for o in r.occurrences] == [
        "2026-12-07T09:00:00-05:00",
        "2027-01-04T09:00:00-05:00",
        "2027-02-01T09:00:00-05:00",
    ]


def test_occurrences_in_gaps_and_folds_follow_rfc5545_and_are_flagged():
    r = call(
        "next_occurrences",
        {
            "rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=30",
            "timezone": "America/New_York",
            "start": "2027-03-12",
            "after": "2027-03-12",
            "count": 3,
        },
    )
    isos = [o.iso for o in r.occurrences]
    assert (
        isos[2] == "2027-03-14T03:30:00-04:00" and "does not exist" in r.occurrences[2].wall_clock_adjustment
    )
    f = call(
        "next_occurrences",
        {
            "rrule": "FREQ=DAILY;BYHOUR=1;BYMINUTE=30",
            "timezone": "America/New_York",
            "start": "2027-11-06",
            "after": "2027-11-06",
            "count": 2,
        },
    )
    assert (
        f.occurrences[1].iso == "2027-11-07T01:30:00-04:00"
        and "occurs twice" in f.occurrences[1].wall_clock_adjustment
    )


RULES = [
    "FREQ=DAILY;BYHOUR=2;BYMINUTE=30",
    "FREQ=WEEKLY;BYDAY=SU;BYHOUR=1;BYMINUTE=30",
    "FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0",
    "FREQ=MONTHLY;BYMONTHDAY=31;BYHOUR=12",
    "FREQ=HOURLY;INTERVAL=7",
    "FREQ=YEARLY;BYMONTH=3;BYDAY=2SU;BYHOUR=2;BYMINUTE=15",
]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Europe/Dublin"]
)
def test_rrule_expansion_matches_recurring_ical_events(rule, zone):
    icalendar = pytest.importorskip("icalendar")
    rie = pytest.importorskip("recurring_ical_events")
    tz = ZoneInfo(zone)
    start = datetime(2026, 1, 1, tzinfo=tz)
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:1\r\n"
        f"DTSTART;TZID={zone}:20260101T000000\r\nRRULE:{rule}\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    cal = icalendar.Calendar.from_ical(text)
    theirs = [e["DTSTART"].dt for e in rie.of(cal).between(start, start + timedelta(days=800))]
    theirs = [t for t in theirs if t.timestamp() > start.timestamp()][:40]
    r = call(
        "next_occurrences",
        {
            "rrule": rule,
            "timezone": zone,
            "start": "2026-01-01T00:00",
            "after": "2026-01-01T00:00",
            "count": len(theirs),
        },
    )
    assert [o.unix for o in r.occurrences] == [t.timestamp() for t in theirs], rule


@pytest.mark.parametrize(
    "args, message",
    [
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "yields no occurrence"),
        ({"rrule": "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=31;BYHOUR=3"}, "yields no occurrence"),
        ({"rrule": "FREQ=DAILY;UNTIL=20200101T000000Z"}, "has run out"),
        ({"rrule": "FREQ=FORTNIGHTLY"}, "FREQ must be one of"),
        ({"rrule": "FREQ=DAILY;BYDAY=XX"}, "invalid RRULE"),
        ({"rrule": "FREQ=DAILY\nDTSTART:20260101"}, "one RRULE line"),
        ({"rrule": "FREQ=DAILY", "count": 1001}, "invalid argument count"),
        ({"rrule": "x" * 10**6}, "invalid argument rrule"),
    ],
)
def test_recurrence_errors_are_one_line_and_bounded(args, message):
    import time

    t = time.perf_counter()
    with pytest.raises(ToolFailure) as e:
        call("next_occurrences", args)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert time.perf_counter() - t < 30  # bounded (the deadline is 0.5 s; a loaded machine is slower)


def test_date_info_facts():
    r = call("date_info", {"date": "2024-02-29", "timezone": "Europe/Dublin"})
    assert (r.day_of_week, r.iso_year, r.iso_week, r.day_of_year, r.quarter) == ("Thursday", 2024, 9, 60, 1)
    assert r.days_in_month == 29 and r.leap_year and r.days_in_year == 366
    assert r.next_transition.at == "2024-03-31T02:00:00+01:00" and r.next_transition.offset_after == "+01:00"
    assert r.previous_transition.offset_before == "+01:00" and r.previous_transition.offset_after == "+00:00"


def test_today_straddling_midnight_is_not_certain_and_names_both_dates():
    ctx = context("2026-12-04T23:59:59.995+09:00", half_s=0.01, zone=TOKYO)
    r = call("date_info", {}, ctx)
    assert (
        r.date_certain is False and r.candidate_dates == ["2026-12-04", "2026-12-05"] and "midnight" in r.note
    )
    far = call("date_info", {}, context("2026-12-04T12:00:00+09:00", half_s=0.01, zone=TOKYO))
    assert far.date_certain is True and far.candidate_dates == ["2026-12-04"]
    tomorrow = call("shift_time", {"base": "tomorrow 9am", "duration": "PT0S"}, ctx)
    assert tomorrow.date_certain is False and tomorrow.candidate_dates == ["2026-12-05", "2026-12-06"]
    fixed = call("shift_time", {"base": "2027-01-01", "duration": "P1D"}, ctx)
    assert fixed.date_certain is True and fixed.based_on_now is False


def test_unverified_says_the_date_comes_from_the_system_clock():
    ctx = context(NOW, verified=False, zone=TOKYO)
    r = call("date_info", {}, ctx)
    assert r.status == "UNVERIFIED" and r.date_certain is False and "unverified system clock" in r.note
    assert r.earliest is None and r.latest is None


HUGE = [
    ("shift_time", {"duration": "P10001Y"}),
    ("shift_time", {"years": 10**400}),
    ("shift_time", {"seconds": 1e300}),
    ("shift_time", {"base": 10**400, "days": 1}),
    ("shift_time", {"base": "9999-12-31", "days": 1}),
    ("shift_time", {"base": "0001-01-01", "days": -1}),
    ("shift_time", {"duration": "P1D", "days": 1}),
    ("shift_time", {}),
    ("time_between", {"start": "0001-01-01", "end": "9999-12-31", "business_days": {"country": "US"}}),
    ("time_between", {"end": -1e300}),
    ("date_info", {"date": "x" * 10**6}),
    ("date_info", {"timezone": "Mars/Olympus"}),
    ("add_business_days", {"country": "US", "days": 10_000, "start": "9999-06-01"}),
]


@pytest.mark.parametrize("name, args", HUGE)
def test_absurd_input_is_a_one_line_error(name, args):
    with pytest.raises(ToolFailure) as e:
        call(name, args)
    assert "\n" not in str(e.value) and len(str(e.value)) < 500
