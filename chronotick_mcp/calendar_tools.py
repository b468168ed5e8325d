"""The calendar tools: shift_time, time_between, add_business_days, date_info and next_occurrences,
on the corrected clock. Each reads now at most once, and reads what depends on it at both ends of
the error bar too, so that an answer whose date the bar leaves open says so (date_certain)."""

from __future__ import annotations

import calendar as stdcal
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chronotick_mcp import business_days as bd
from chronotick_mcp import calendar_models as cm
from chronotick_mcp.calendar_math import (
    CalendarError,
    Duration,
    difference,
    parse_duration,
    shift,
    transition,
)
from chronotick_mcp.calendar_models import (
    AddBusinessDaysInput,
    AddBusinessDaysResult,
    CalendarParts,
    DateInfoInput,
    DateInfoResult,
    DurationFields,
    Holiday,
    NextOccurrencesInput,
    NextOccurrencesResult,
    Occurrence,
    ShiftInput,
    ShiftResult,
    TimeBetweenInput,
    TimeBetweenResult,
    ZonedInstant,
    ZoneTransition,
)
from chronotick_mcp.clock import UNVERIFIED, Now, ToolContext, ToolFailure, elapsed_ms
from chronotick_mcp.convert import zone_or_failure
from chronotick_mcp.instants import Clock, Instant, InstantError, read_instant, uses_now
from chronotick_mcp.recurrence import RecurrenceError, expand
from chronotick_mcp.tool_spec import ToolSpec
from chronotick_mcp.zones import is_dst, utc_offset


class _Reader:
    """Reads instants in one zone against one reading of now, taken only if something needs it."""

    def __init__(self, ctx: ToolContext, zone: str | None) -> None:
        self.tz, self.zone = zone_or_failure(ctx.local_zone if zone is None else zone, ctx.local_zone)
        self.ctx = ctx
        self.now: Now | None = None

    def clock(self) -> Clock:
        if self.now is None:
            self.now = self.ctx.now()
        r = self.now.reading
        if r is None:
            t = self.now.system_unix
            return Clock(t, t, t, False)
        return Clock(r.corrected_timestamp, r.earliest, r.latest, True)

    def instant(self, value: str | int | float, what: str) -> Instant:
        try:
            return read_instant(value, self.tz, self.clock)
        except InstantError as exc:
            raise ToolFailure(f"{what}: {exc}") from None

    def zoned(self, at: datetime) -> ZonedInstant:
        return ZonedInstant(
            iso=at.isoformat(timespec="seconds" if at.microsecond == 0 else "microseconds"),
            unix=at.timestamp(),
            date=at.date().isoformat(),
            day_of_week=at.strftime("%A"),
            utc_offset=utc_offset(at),
            is_dst=is_dst(at),
            timezone=self.zone,
        )

    def honesty(self, start: float, *answers: Instant) -> dict:
        """NowDependent's fields for an answer about `answers` (their lo/hi ends)."""
        from_now = [a for a in answers if a.from_now]
        fields: dict = {"call_latency_ms": elapsed_ms(start)}
        if not from_now or self.now is None:
            dates = sorted({a.at.date().isoformat() for a in answers})
            return fields | {
                "based_on_now": False,
                "date_certain": True,
                "candidate_dates": dates,
                "earliest": None,
                "latest": None,
                "status": None,
                "uncertainty_ms": None,
                "engine": None,
            }
        r = self.now.reading
        dates = sorted({d.isoformat() for a in from_now for d in a.dates()})
        fields |= {
            "based_on_now": True,
            "engine": self.now.served.engine,
            "earliest": None if r is None else min(a.lo.timestamp() for a in from_now),
            "latest": None if r is None else max(a.hi.timestamp() for a in from_now),
            "status": UNVERIFIED if r is None else r.status,
            "uncertainty_ms": None if r is None else r.uncertainty_seconds * 1e3,
        }
        if r is None:
            return fields | {
                "date_certain": False,
                "candidate_dates": dates,
                "note": f"the date comes from the unverified system clock: {self.now.note}",
            }
        certain = len(dates) == 1
        note = None
        if not certain:
            note = (
                f"now's 95% error bar (±{r.uncertainty_seconds * 1e3:.3f} ms) straddles midnight in {self.zone}: "
                f"the date may be any of {', '.join(dates)}"
            )
        return fields | {"date_certain": certain, "candidate_dates": dates, "note": note}


def _duration(args: ShiftInput) -> Duration:
    try:
        if args.duration is not None:
            return parse_duration(args.duration)
        return Duration(**{k: getattr(args, k) for k in DurationFields.model_fields})
    except CalendarError as exc:
        raise ToolFailure(f"invalid duration: {exc}") from None


def _shifted(a: Instant, d: Duration) -> tuple[Instant, object]:
    try:
        mid = shift(a.at, d)
        lo, hi = (shift(x, d).at if x != a.at else mid.at for x in (a.lo, a.hi))
    except CalendarError as exc:
        raise ToolFailure(f"the result {exc}") from None
    return Instant(mid.at, lo, hi, "", from_now=a.from_now), mid


def shift_time(ctx: ToolContext, args: ShiftInput) -> ShiftResult:
    start = time.perf_counter()
    reader = _Reader(ctx, args.timezone)
    base = reader.instant(args.base, "base")
    d = _duration(args)
    out, mid = _shifted(base, d)
    placed = mid.placed  # type: ignore[attr-defined]
    return ShiftResult(
        base=reader.zoned(base.at),
        base_interpreted_as=base.interpreted_as,
        duration=d.iso(),
        result=reader.zoned(out.at),
        clamped=mid.clamped,  # type: ignore[attr-defined]
        wall_clock_adjustment=placed.rule if placed is not None and placed.kind else None,
        **reader.honesty(start, out),
    )


def _holidays(skipped: list[bd.Skipped]) -> list[Holiday]:
    return [Holiday(date=s.day.isoformat(), names=s.names) for s in skipped[: bd.MAX_LISTED]]


def _work_calendar(country: str, subdivision: str | None) -> bd.WorkCalendar:
    try:
        return bd.calendar(country, subdivision)
    except bd.BusinessDayError as exc:
        raise ToolFailure(str(exc)) from None


def time_between(ctx: ToolContext, args: TimeBetweenInput) -> TimeBetweenResult:
    start = time.perf_counter()
    reader = _Reader(ctx, args.timezone)
    a = reader.instant(args.start, "start")
    b = reader.instant(args.end, "end")
    try:
        diff = difference(a.at, b.at)
    except CalendarError as exc:
        raise ToolFailure(f"the difference {exc}") from None
    seconds = b.at.timestamp() - a.at.timestamp()
    business, skipped = None, []
    if args.business_days is not None:
        cal = _work_calendar(args.business_days.country, args.business_days.subdivision)
        try:
            business, found = bd.count(cal, a.at.date(), b.at.date())
        except bd.BusinessDayError as exc:
            raise ToolFailure(str(exc)) from None
        skipped = _holidays(found)
    now_based = a.from_now or b.from_now
    verified = reader.now is not None and reader.now.reading is not None
    return TimeBetweenResult(
        start=reader.zoned(a.at),
        end=reader.zoned(b.at),
        start_interpreted_as=a.interpreted_as,
        end_interpreted_as=b.interpreted_as,
        seconds=seconds,
        min_seconds=b.lo.timestamp() - a.hi.timestamp() if now_based and verified else None,
        max_seconds=b.hi.timestamp() - a.lo.timestamp() if now_based and verified else None,
        calendar=CalendarParts(**diff.parts),  # type: ignore[arg-type]
        total_days=seconds / 86400,
        total_weeks=seconds / (7 * 86400),
        calendar_days=(b.at.date() - a.at.date()).days,
        business_days=business,
        holidays_skipped=skipped,
        **reader.honesty(start, a, b),
    )


def add_business_days(ctx: ToolContext, args: AddBusinessDaysInput) -> AddBusinessDaysResult:
    start = time.perf_counter()
    reader = _Reader(ctx, args.timezone)
    a = reader.instant(args.start, "start")
    cal = _work_calendar(args.country, args.subdivision)

    def result_of(day: date) -> tuple[date, list[bd.Skipped]]:
        try:
            return bd.add(cal, day, args.days)
        except bd.BusinessDayError as exc:
            raise ToolFailure(str(exc)) from None

    day, skipped = result_of(a.at.date())
    ends = [result_of(x.date())[0] for x in (a.lo, a.hi)]
    tz: ZoneInfo = reader.tz
    on = [datetime.combine(x, datetime.min.time(), tz) for x in (day, *ends)]
    answer = Instant(on[0], on[1], on[2], "", from_now=a.from_now, date_only=True)
    honest = reader.honesty(start, answer)
    if honest["based_on_now"]:  # a date answer: its interval is its candidate dates', not an instant's
        honest["earliest"] = honest["latest"] = None
    return AddBusinessDaysResult(
        start_date=a.at.date().isoformat(),
        start_interpreted_as=a.interpreted_as,
        days=args.days,
        result_date=day.isoformat(),
        day_of_week=day.strftime("%A"),
        holidays_skipped=_holidays(skipped),
        weekend=[stdcal.day_name[d] for d in cal.weekend],
        country=cal.country,
        subdivision=cal.subdivision,
        **honest,
    )


def _transition(at: datetime, forward: bool) -> ZoneTransition | None:
    t = transition(at, forward)
    if t is None:
        return None
    return ZoneTransition(
        at=t.at.isoformat(timespec="seconds"),
        unix=t.at.timestamp(),
        offset_before=t.offset_before,
        offset_after=t.offset_after,
        dst_before=t.dst_before,
        dst_after=t.dst_after,
        abbreviation_before=t.abbreviation_before,
        abbreviation_after=t.abbreviation_after,
    )


def date_info(ctx: ToolContext, args: DateInfoInput) -> DateInfoResult:
    start = time.perf_counter()
    reader = _Reader(ctx, args.timezone)
    a = reader.instant(args.date, "date")
    day = a.at.date()
    # A date's offset is the one at its noon; an instant's, its own.
    at = a.at
    if a.date_only:
        try:
            at = datetime.fromtimestamp(a.at.timestamp() + 12 * 3600, reader.tz)
            at = at if at.date() == day else a.at
        except (OverflowError, ValueError, OSError):
            at = a.at
    iso = day.isocalendar()
    try:
        prev, nxt = _transition(at, False), _transition(at, True)
    except (OverflowError, ValueError, OSError):
        prev = nxt = None
    return DateInfoResult(
        date=day.isoformat(),
        interpreted_as=a.interpreted_as,
        timezone=reader.zone,
        day_of_week=day.strftime("%A"),
        iso_year=iso.year,
        iso_week=iso.week,
        iso_weekday=iso.weekday,
        day_of_year=day.timetuple().tm_yday,
        quarter=(day.month - 1) // 3 + 1,
        days_in_month=stdcal.monthrange(day.year, day.month)[1],
        days_in_year=366 if stdcal.isleap(day.year) else 365,
        leap_year=stdcal.isleap(day.year),
        utc_offset=utc_offset(at),
        is_dst=is_dst(at),
        abbreviation=at.tzname() or "",
        previous_transition=prev,
        next_transition=nxt,
        **reader.honesty(start, a),
    )


def next_occurrences(ctx: ToolContext, args: NextOccurrencesInput) -> NextOccurrencesResult:
    start = time.perf_counter()
    reader = _Reader(ctx, args.timezone)
    dtstart = reader.instant(args.start, "start")
    after = reader.instant(args.after, "after")
    try:
        found = expand(args.rrule, reader.tz, dtstart.at.replace(tzinfo=None, fold=0), after.at, args.count)
    except RecurrenceError as exc:
        raise ToolFailure(str(exc)) from None
    except CalendarError as exc:
        raise ToolFailure(f"an occurrence {exc}") from None
    occurrences = [
        Occurrence(**reader.zoned(p.at).model_dump(), wall_clock_adjustment=p.rule if p.kind else None)
        for p in found.occurrences
    ]
    first = found.occurrences[0].at.timestamp()
    may_have_passed = after.from_now and after.lo.timestamp() <= first <= after.hi.timestamp()
    return NextOccurrencesResult(
        occurrences=occurrences,
        ended=found.ended,
        after_interpreted_as=after.interpreted_as,
        first_may_have_passed=may_have_passed,
        **reader.honesty(start, after),
    )


# ------------------------------------------------------------------------------------------ specs


def _any_now(*fields: str) -> Callable[[Any], bool]:
    return lambda args: any(uses_now(getattr(args, f)) for f in fields)


CALENDAR_NOTE = (
    " Instants may be 'now', Unix seconds, ISO-8601, 'HH:MM' or an expression ('tomorrow 9am', 'next friday', "
    "'in 3 hours', 'end of month'), read against the corrected now in `timezone` and echoed in "
    "*interpreted_as*. An answer that depends on now says date_certain: false, with candidate_dates, when now's "
    "error bar straddles midnight in the zone."
)
SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "shift_time",
        "Shift a time by a duration",
        "An instant plus or minus a duration, in a zone: 'what is the date 90 days from now in Tokyo'. The "
        "duration is ISO 8601 ('P1M', '-PT90M', 'P2W3D') or fields (years ... seconds). Years, months, weeks "
        "and days move the wall clock (09:00 stays 09:00 across DST; Jan 31 + P1M is Feb 28, flagged "
        "clamped); hours, minutes and seconds move elapsed time. A result in a DST gap or fold says so in "
        "wall_clock_adjustment." + CALENDAR_NOTE,
        cm.ShiftInput,
        cm.ShiftResult,
        shift_time,
        waits=_any_now("base"),
    ),
    ToolSpec(
        "time_between",
        "Time between two instants",
        "The time from start (default now) to end: exact seconds, the calendar difference in the zone "
        "(years, months, days, hours, minutes, seconds), total days and weeks, and optionally business days "
        "(weekdays less a country's public holidays, naming each holiday skipped): 'how many business days "
        "until 2027-01-15 in Bavaria'." + CALENDAR_NOTE,
        cm.TimeBetweenInput,
        cm.TimeBetweenResult,
        time_between,
        waits=_any_now("start", "end"),
    ),
    ToolSpec(
        "add_business_days",
        "Add business days",
        "The date N business days after (or, negative, before) a date (default today), skipping the "
        "country's weekend and public holidays (the holidays package; optional subdivision such as 'BY' or "
        "'CA'), naming each holiday skipped." + CALENDAR_NOTE,
        cm.AddBusinessDaysInput,
        cm.AddBusinessDaysResult,
        add_business_days,
        waits=_any_now("start"),
    ),
    ToolSpec(
        "date_info",
        "Describe a date",
        "Facts about a date (default today in the zone): weekday, ISO year and week, day of year, quarter, "
        "days in the month and year, leap year, the UTC offset and DST, and the zone's previous and next "
        "transitions with the offsets on both sides. For 'today' it says whether today is certain."
        + CALENDAR_NOTE,
        cm.DateInfoInput,
        cm.DateInfoResult,
        date_info,
        waits=_any_now("date"),
    ),
    ToolSpec(
        "next_occurrences",
        "Next occurrences of a recurrence",
        "The next N (1-1000, default 5) instants of an RFC 5545 RRULE in a zone, strictly after `after` "
        "(default now): 'FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0' is the first Monday of each month at "
        "09:00. Expanded on the zone's wall clock; an occurrence in a DST gap or fold is placed as RFC 5545 "
        "says and flagged. `start` is the DTSTART (default today 00:00), which sets unspecified fields."
        + CALENDAR_NOTE,
        cm.NextOccurrencesInput,
        cm.NextOccurrencesResult,
        next_occurrences,
        waits=_any_now("start", "after"),
    ),
)
