"""The calendar tools' input and result models, defined once (calendar_tools.py pairs each with its
function; every transport derives its schemas from these). Every result that depends on now says
whether its date is certain given the error bar (NowDependent)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictFloat, StrictInt, StringConstraints, model_validator

from chronotick_mcp.calendar_math import MAX_DAYS, MAX_EXACT_SECONDS, MAX_MONTHS, MAX_YEARS
from chronotick_mcp.instants import FORMS, MAX_INSTANT_CHARS
from chronotick_mcp.models import ToolInput
from chronotick_mcp.recurrence import MAX_OCCURRENCES, MAX_RULE_CHARS

Text = Annotated[str, StringConstraints(max_length=MAX_INSTANT_CHARS)]
InstantArg = Text | StrictInt | StrictFloat
ZoneArg = Annotated[str, StringConstraints(max_length=100)]
INSTANT_HELP = f"{FORMS}; a naive date-time is wall time in `timezone`"
ZONE_HELP = "IANA zone the wall clock is read in, e.g. 'Asia/Tokyo'; default: the server's local zone"


class ZonedInstant(BaseModel):
    iso: str = Field(description="ISO-8601 in `timezone`")
    unix: float = Field(description="Unix seconds")
    date: str = Field(description="the local date, YYYY-MM-DD")
    day_of_week: str
    utc_offset: str = Field(description="e.g. '+05:45'")
    is_dst: bool
    timezone: str


class NowDependent(BaseModel):
    """How far an answer that depends on now can be trusted."""

    based_on_now: bool = Field(
        description="the answer depends on the current time (now, today, 'in 3 hours', ...)"
    )
    date_certain: bool = Field(
        description="false when the answer's local date is not known: the 95% error bar of now straddles "
        "midnight in the zone (see candidate_dates), or there is no error bar (UNVERIFIED)"
    )
    candidate_dates: list[str] = Field(
        description="every local date the answer may fall on; one when date_certain"
    )
    earliest: float | None = Field(
        description="lower end of the 95% interval of the answer's instant, Unix seconds; null when not based "
        "on now or UNVERIFIED"
    )
    latest: float | None = Field(
        description="upper end of that interval; null when not based on now or UNVERIFIED"
    )
    status: str | None = Field(
        description="the clock's status when based on now: SYNCHRONIZED, FREE_RUNNING, ..., or UNVERIFIED (the "
        "plain system clock, see note)"
    )
    uncertainty_ms: float | None = Field(
        description="95% half-width of now, milliseconds; null when not known"
    )
    engine: Literal["daemon", "embedded"] | None = Field(description="what served now, when it was read")
    note: str | None = Field(default=None, description="why the date may be off, in one line")
    call_latency_ms: float


class DurationFields(ToolInput):
    years: int = Field(default=0, ge=-MAX_YEARS, le=MAX_YEARS)
    months: int = Field(default=0, ge=-MAX_MONTHS, le=MAX_MONTHS)
    weeks: int = Field(default=0, ge=-MAX_DAYS // 7, le=MAX_DAYS // 7)
    days: int = Field(default=0, ge=-MAX_DAYS, le=MAX_DAYS)
    hours: int = Field(default=0, ge=-MAX_EXACT_SECONDS // 3600, le=MAX_EXACT_SECONDS // 3600)
    minutes: int = Field(default=0, ge=-MAX_EXACT_SECONDS // 60, le=MAX_EXACT_SECONDS // 60)
    seconds: float = Field(default=0, ge=-MAX_EXACT_SECONDS, le=MAX_EXACT_SECONDS, allow_inf_nan=False)


class ShiftInput(DurationFields):
    base: InstantArg = Field(default="now", description=f"the instant to shift: {INSTANT_HELP}")
    duration: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="ISO 8601 duration, e.g. 'P1M', 'P2W3D', '-PT90M'; or give years, months, weeks, days, "
        "hours, minutes, seconds instead",
    )
    timezone: ZoneArg | None = Field(default=None, description=ZONE_HELP)

    @model_validator(mode="after")
    def _one_form(self) -> ShiftInput:
        fields = any(getattr(self, k) for k in DurationFields.model_fields)
        if self.duration is not None and fields:
            raise ValueError("give duration or the fields (years, months, ...), not both")
        if self.duration is None and not fields:
            raise ValueError("give a duration, e.g. 'P1M', or fields such as days=90")
        return self


class ShiftResult(NowDependent):
    base: ZonedInstant
    base_interpreted_as: str
    duration: str = Field(description="the duration applied, ISO 8601")
    result: ZonedInstant
    clamped: str | None = Field(
        description="set when the day did not exist in the target month (Jan 31 + P1M)"
    )
    wall_clock_adjustment: str | None = Field(
        description="set when the shifted wall time falls in a DST gap or fold: what it was and the rule applied"
    )


class BusinessCalendar(ToolInput):
    country: Annotated[str, StringConstraints(max_length=60)] = Field(
        description="ISO 3166 country code or English name, e.g. 'DE', 'US', 'Japan'"
    )
    subdivision: Annotated[str, StringConstraints(max_length=20)] | None = Field(
        default=None, description="state or province code, e.g. 'BY' (Bavaria), 'CA' (California)"
    )


class Holiday(BaseModel):
    date: str
    names: list[str]


class CalendarParts(BaseModel):
    years: int
    months: int
    days: int
    hours: int
    minutes: int
    seconds: float


class TimeBetweenInput(ToolInput):
    start: InstantArg = Field(default="now", description=f"from: {INSTANT_HELP}")
    end: InstantArg = Field(description=f"to: {INSTANT_HELP}")
    timezone: ZoneArg | None = Field(default=None, description=ZONE_HELP)
    business_days: BusinessCalendar | None = Field(
        default=None, description="also count business days (weekdays less public holidays) in this calendar"
    )


class TimeBetweenResult(NowDependent):
    start: ZonedInstant
    end: ZonedInstant
    start_interpreted_as: str
    end_interpreted_as: str
    seconds: float = Field(description="exact elapsed seconds, end - start")
    min_seconds: float | None = Field(description="the least it can be given now's 95% error bar")
    max_seconds: float | None = Field(description="the most it can be given now's 95% error bar")
    calendar: CalendarParts = Field(
        description="end - start on the zone's wall clock: whole years, months and days, then the exact rest; "
        "shift_time of start by it gives end"
    )
    total_days: float = Field(description="seconds / 86400")
    total_weeks: float
    calendar_days: int = Field(description="end's local date minus start's local date, in days")
    business_days: int | None = Field(
        description="business days after start's date up to and including end's date (negative when end is earlier)"
    )
    holidays_skipped: list[Holiday] = Field(description="the weekday holidays left out of business_days")


class AddBusinessDaysInput(BusinessCalendar):
    start: InstantArg = Field(default="today", description=f"the date to count from: {INSTANT_HELP}")
    days: int = Field(ge=-10_000, le=10_000, description="business days to add (negative: go back)")
    timezone: ZoneArg | None = Field(default=None, description=ZONE_HELP)


class AddBusinessDaysResult(NowDependent):
    start_date: str
    start_interpreted_as: str
    days: int
    result_date: str
    day_of_week: str
    holidays_skipped: list[Holiday]
    weekend: list[str] = Field(description="the calendar's weekend days")
    country: str
    subdivision: str | None


class DateInfoInput(ToolInput):
    date: InstantArg = Field(
        default="today", description=f"the date (or instant) to describe: {INSTANT_HELP}"
    )
    timezone: ZoneArg | None = Field(default=None, description=ZONE_HELP)


class ZoneTransition(BaseModel):
    at: str = Field(description="the first instant of the new rules, ISO-8601 in the zone")
    unix: float
    offset_before: str
    offset_after: str
    dst_before: bool
    dst_after: bool
    abbreviation_before: str
    abbreviation_after: str


class DateInfoResult(NowDependent):
    date: str
    interpreted_as: str
    timezone: str
    day_of_week: str
    iso_year: int
    iso_week: int
    iso_weekday: int = Field(description="1 = Monday ... 7 = Sunday")
    day_of_year: int
    quarter: int
    days_in_month: int
    days_in_year: int
    leap_year: bool
    utc_offset: str = Field(description="at the instant asked for, or at noon of a date")
    is_dst: bool
    abbreviation: str
    previous_transition: ZoneTransition | None = Field(
        description="the zone's last change of offset or DST, within 40 years"
    )
    next_transition: ZoneTransition | None = Field(description="its next change, within 40 years")


class NextOccurrencesInput(ToolInput):
    rrule: Annotated[str, StringConstraints(max_length=MAX_RULE_CHARS)] = Field(
        description="RFC 5545 RRULE, e.g. 'FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0' (first Monday, 09:00)"
    )
    timezone: ZoneArg | None = Field(default=None, description=ZONE_HELP)
    start: InstantArg = Field(default="today", description=f"the recurrence's DTSTART: {INSTANT_HELP}")
    after: InstantArg = Field(
        default="now", description=f"list occurrences strictly after this: {INSTANT_HELP}"
    )
    count: int = Field(default=5, ge=1, le=MAX_OCCURRENCES, description=f"how many, 1-{MAX_OCCURRENCES}")


class Occurrence(ZonedInstant):
    wall_clock_adjustment: str | None = Field(
        description="set when the rule's local time falls in a DST gap or fold, with the RFC 5545 rule applied"
    )


class NextOccurrencesResult(NowDependent):
    occurrences: list[Occurrence]
    ended: bool = Field(description="the rule's COUNT or UNTIL ran out before `count` occurrences")
    after_interpreted_as: str
    first_may_have_passed: bool = Field(
        description="the first occurrence lies inside now's 95% error bar: it may already have happened"
    )
