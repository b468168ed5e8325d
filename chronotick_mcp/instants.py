"""What the calendar tools accept as an instant, read against the corrected now in a zone.

An instant is 'now', Unix seconds, an ISO-8601 date or date-time (a naive one is wall time in the
zone), 'HH:MM' (today), or an expression an agent writes: 'tomorrow 9am', 'next friday', 'in 3
hours', '2 days ago', 'end of month'. Durations ('in 3 hours') are shifted as shift_time shifts,
anchors ('end of month') are computed here, and the rest goes to dateparser, which is imported on
first use. Text read two ways ('01/02/2027') or not at all is a one-line error naming the forms.

Whatever depends on now is read three times: at the corrected now and at both ends of its error
bar, so that an answer can say when the date itself is not known (Instant.lo, Instant.hi).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chronotick_engine.errors import quoted
from chronotick_mcp.calendar_math import (
    CalendarError,
    Duration,
    Placed,
    add_months,
    exact_add,
    place,
    shift,
    start_of_day,
)
from chronotick_mcp.models import MAX_UNIX, MIN_UNIX

MAX_INSTANT_CHARS = 200

FORMS = (
    "'now', Unix seconds, an ISO-8601 date or date-time, 'HH:MM', or an expression such as "
    "'tomorrow 9am', 'next friday', 'in 3 hours', '2 days ago', 'end of month'"
)


class InstantError(ValueError):
    """Text that is not an instant, or is one two ways, in one line."""


@dataclass(frozen=True)
class Clock:
    """The corrected now and its 95% bar, Unix seconds (lo == hi == now when UNVERIFIED)."""

    now: float
    lo: float
    hi: float
    verified: bool


@dataclass(frozen=True)
class Instant:
    at: datetime  # aware, in the zone: read at the corrected now
    lo: datetime  # read at the error bar's lower end (the same as `at` unless it depends on now)
    hi: datetime  # read at its upper end
    interpreted_as: str
    from_now: bool = False
    date_only: bool = False  # a date, placed at its first instant
    placed: Placed | None = None  # how a wall time was placed, when the zone skips or repeats it

    def dates(self) -> list[date]:
        """The local dates this instant may fall on, given the error bar."""
        return sorted({self.lo.date(), self.at.date(), self.hi.date()})


def _fixed(at: datetime, how: str, *, date_only: bool = False, placed: Placed | None = None) -> Instant:
    return Instant(at, at, at, how, date_only=date_only, placed=placed)


def _day_name(d: date) -> str:
    return d.strftime("%A")


def _show(at: datetime) -> str:
    return at.isoformat(timespec="seconds" if at.microsecond == 0 else "microseconds")


# ------------------------------------------------------------------------------------ the parser


NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
CLOCK_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
ISO_DATE = re.compile(r"[+-]?\d{4}-\d{2}-\d{2}")
ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", re.IGNORECASE)
DAY_WORDS = {
    "today": 0,
    "tomorrow": 1,
    "yesterday": -1,
    "the day after tomorrow": 2,
    "day after tomorrow": 2,
    "the day before yesterday": -2,
    "day before yesterday": -2,
}
ANCHOR = re.compile(
    r"(?P<edge>start|beginning|end)\s+of\s+(?:the\s+)?(?:(?P<which>this|current|next|last|previous)\s+)?"
    r"(?P<unit>day|week|month|quarter|year)"
)
UNITS = {
    "year": "years",
    "yr": "years",
    "month": "months",
    "mo": "months",
    "week": "weeks",
    "wk": "weeks",
    "day": "days",
    "hour": "hours",
    "hr": "hours",
    "h": "hours",
    "minute": "minutes",
    "min": "minutes",
    "m": "minutes",
    "second": "seconds",
    "sec": "seconds",
    "s": "seconds",
}
AMOUNT = r"(?:\d+(?:\.\d+)?|an?|one)"
PART = rf"{AMOUNT}\s*(?:{'|'.join(sorted(UNITS, key=len, reverse=True))})s?"
DURATION_TEXT = re.compile(rf"{PART}(?:\s*(?:,|and|,\s*and)?\s*{PART})*")
PART_FIELDS = re.compile(
    rf"(?P<amount>{AMOUNT})\s*(?P<unit>{'|'.join(sorted(UNITS, key=len, reverse=True))})s?\b"
)
# A time of day in the text: without one, an expression names a date ('next friday').
TIME_OF_DAY = re.compile(
    r"\d\s*(?:am|pm|a\.m\.|p\.m\.)|\d{1,2}:\d{2}|\b(?:noon|midday|midnight|tonight|morning|afternoon|evening|night)\b"
)
WEEKDAY = re.compile(r"\b(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day)?\b")
QUALIFIED = re.compile(r"\b(?:this|next|last|previous|coming|past)\b")
SLASHED = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})\b")


def read_instant(value: str | int | float, tz: ZoneInfo, clock: Callable[[], Clock]) -> Instant:
    """`value` as an instant in `tz`; `clock` is called only when the value depends on now."""
    if isinstance(value, bool):
        raise InstantError(f"invalid instant {quoted(value)}: use {FORMS}")
    if isinstance(value, int | float):
        try:
            return _unix(float(value), tz)
        except OverflowError:
            raise InstantError(f"{quoted(value)} falls outside the years 1-9999") from None
    text = value.strip()
    if len(text) > MAX_INSTANT_CHARS:
        raise InstantError(f"invalid instant {quoted(value)}: at most {MAX_INSTANT_CHARS} characters")
    low = " ".join(text.lower().split())
    try:
        if low == "now" or low == "":
            return _now(tz, clock())
        if NUMBER.fullmatch(low):
            return _unix(float(low), tz)
        if ISO_DATE.fullmatch(low):
            day = date.fromisoformat(low)
            return _fixed(
                start_of_day(day, tz), f"{day.isoformat()} ({_day_name(day)}), a date", date_only=True
            )
        if ISO_DATETIME.fullmatch(low):
            return _iso_datetime(text, tz)
        m = CLOCK_TIME.fullmatch(low)
        if m:
            return _today_at(low, (int(m[1]), int(m[2]), int(m[3] or 0)), tz, clock())
        if low in DAY_WORDS:
            return _relative_day(low, DAY_WORDS[low], tz, clock())
        m = ANCHOR.fullmatch(low)
        if m:
            return _anchor(low, m, tz, clock())
        duration = _duration_phrase(low)
        if duration is not None:
            return _from_now(low, duration, tz, clock())
        return _natural(text, low, tz, clock)
    except CalendarError as exc:
        raise InstantError(f"{quoted(text)} {exc}") from None
    except (OverflowError, ValueError) as exc:
        if isinstance(exc, InstantError):
            raise
        raise InstantError(f"invalid instant {quoted(text)}: use {FORMS}") from None


def _unix(t: float, tz: ZoneInfo) -> Instant:
    if not math.isfinite(t):
        raise InstantError("an instant must be a finite number of Unix seconds")
    if abs(t) > 1e11:
        raise InstantError(
            f"{quoted(t)} looks like milliseconds (get_time's unix_ms): give Unix seconds, i.e. divide "
            "by 1000, or an ISO-8601 date-time"
        )
    if not MIN_UNIX <= t <= MAX_UNIX:
        raise InstantError(f"{quoted(t)} falls outside the years 1-9999")
    try:
        at = datetime.fromtimestamp(t, tz)
    except (OverflowError, ValueError, OSError):
        raise InstantError(f"{quoted(t)} falls outside the years 1-9999") from None
    return _fixed(at, f"Unix {f'{t:.6f}'.rstrip('0').rstrip('.')} = {_show(at)}")


def _iso_datetime(text: str, tz: ZoneInfo) -> Instant:
    given = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text.strip()))
    if given.tzinfo is not None:
        at = given.astimezone(tz)
        return _fixed(at, f"{_show(given)} = {_show(at)} in {tz.key}")
    placed = place(given, tz)
    how = f"{_show(given)} wall time in {tz.key} = {_show(placed.at)}"
    return _fixed(placed.at, how, placed=placed if placed.kind else None)


def _now(tz: ZoneInfo, c: Clock) -> Instant:
    at, lo, hi = (datetime.fromtimestamp(t, tz) for t in (c.now, c.lo, c.hi))
    bar = f" ± {(c.hi - c.lo) / 2 * 1e3:.3f} ms" if c.verified else " (the unverified system clock)"
    return Instant(at, lo, hi, f"now = {_show(at)}{bar}", from_now=True)


def _three(c: Clock, tz: ZoneInfo) -> tuple[datetime, datetime, datetime]:
    return tuple(datetime.fromtimestamp(t, tz) for t in (c.now, c.lo, c.hi))  # type: ignore[return-value]


def _on_each(c: Clock, tz: ZoneInfo, make: Callable[[datetime], datetime]) -> tuple[datetime, ...]:
    """`make` applied to the now at the corrected reading and at both ends of the bar."""
    return tuple(make(base) for base in _three(c, tz))


def _today_at(text: str, hms: tuple[int, int, int], tz: ZoneInfo, c: Clock) -> Instant:
    h, mi, s = hms
    if h > 23 or mi > 59 or s > 59:
        raise InstantError(f"invalid time {quoted(text)}: hours 0-23, minutes and seconds 0-59")
    at, lo, hi = _on_each(c, tz, lambda base: place(datetime.combine(base.date(), time(h, mi, s)), tz).at)
    p = place(datetime.combine(at.date(), time(h, mi, s)), tz)
    return Instant(at, lo, hi, f"{text} today = {_show(at)}", from_now=True, placed=p if p.kind else None)


def _relative_day(text: str, days: int, tz: ZoneInfo, c: Clock) -> Instant:
    at, lo, hi = _on_each(c, tz, lambda base: start_of_day(base.date() + timedelta(days=days), tz))
    how = f"{text} = {at.date().isoformat()} ({_day_name(at.date())}), a date"
    return Instant(at, lo, hi, how, from_now=True, date_only=True)


def _anchor(text: str, m: re.Match, tz: ZoneInfo, c: Clock) -> Instant:
    edge, unit = m["edge"], m["unit"]
    step = {"next": 1, "last": -1, "previous": -1}.get(m["which"] or "", 0)

    def bounds(base: datetime) -> datetime:
        first, after = _period(base.date(), unit, step)
        if edge != "end":
            return start_of_day(first, tz)
        # The last instant of the period: a microsecond before the next one begins.
        return exact_add(start_of_day(after, tz), timedelta(microseconds=-1))

    at, lo, hi = _on_each(c, tz, bounds)
    shown = at.replace(microsecond=0) if edge == "end" else at
    how = f"{text} = {_show(shown)} ({_day_name(at.date())}), the {'last' if edge == 'end' else 'first'} instant"
    return Instant(at, lo, hi, how, from_now=True)


def _period(day: date, unit: str, step: int) -> tuple[date, date]:
    """The first day of the `unit` holding `day`, moved by `step` units, and the first day after."""
    if unit == "day":
        first = day + timedelta(days=step)
        return first, first + timedelta(days=1)
    if unit == "week":  # ISO weeks: Monday to Sunday
        first = day - timedelta(days=day.weekday()) + timedelta(weeks=step)
        return first, first + timedelta(weeks=1)
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    start_month = (
        day.month if unit == "month" else (3 * ((day.month - 1) // 3) + 1 if unit == "quarter" else 1)
    )
    first, _ = add_months(date(day.year, start_month, 1), step * months)
    after, _ = add_months(first, months)
    return first, after


def _duration_phrase(low: str) -> tuple[int, Duration] | None:
    """('in 3 hours' | '3 hours from now' | '2 days ago') as (sign, duration); None otherwise."""
    sign = 1
    body = None
    if low.startswith("in "):
        body = low[3:]
    else:
        for suffix, s in ((" ago", -1), (" from now", 1), (" later", 1), (" hence", 1), (" before now", -1)):
            if low.endswith(suffix):
                body, sign = low[: -len(suffix)], s
                break
    if body is None or not DURATION_TEXT.fullmatch(body.strip()):
        return None
    fields: dict[str, float] = {}
    for m in PART_FIELDS.finditer(body):
        amount, key = m["amount"], UNITS[m["unit"]]
        value = 1.0 if amount in ("a", "an", "one") else float(amount)
        fields[key] = fields.get(key, 0) + value
    exact_s = fields.pop("hours", 0) * 3600 + fields.pop("minutes", 0) * 60 + fields.pop("seconds", 0)
    for key, value in fields.items():
        if not float(value).is_integer():
            raise InstantError(f"{quoted(low)}: {key} must be whole; use hours for fractions of a day")
    calendar_part = {k: sign * int(v) for k, v in fields.items()}
    hours, rest = divmod(exact_s, 3600)
    minutes, seconds = divmod(rest, 60)
    exact = {"hours": sign * int(hours), "minutes": sign * int(minutes), "seconds": sign * seconds}
    return sign, Duration(**calendar_part, **exact)  # type: ignore[arg-type]


def _from_now(text: str, signed: tuple[int, Duration], tz: ZoneInfo, c: Clock) -> Instant:
    _, d = signed
    at, lo, hi = _on_each(c, tz, lambda base: shift(base, d).at)
    p = shift(datetime.fromtimestamp(c.now, tz), d).placed
    return Instant(
        at,
        lo,
        hi,
        f"{text} = now {'+' if not d.iso().startswith('-') else '-'} {d.iso().lstrip('-')} = {_show(at)}",
        from_now=True,
        placed=p if p is not None and p.kind else None,
    )


def _natural(text: str, low: str, tz: ZoneInfo, clock: Callable[[], Clock]) -> Instant:
    m = SLASHED.search(low)
    if m and int(m[1]) <= 12 and int(m[2]) <= 12 and m[1] != m[2]:
        year = m[3] if len(m[3]) == 4 else f"20{m[3]}"
        a = f"{year}-{int(m[1]):02d}-{int(m[2]):02d}"
        b = f"{year}-{int(m[2]):02d}-{int(m[1]):02d}"
        raise InstantError(f"{quoted(text)} reads two ways ({a} or {b}): write the date as YYYY-MM-DD")
    c = clock()
    future = bool(WEEKDAY.search(low)) and not QUALIFIED.search(low)  # 'monday': the coming one
    now, lo, hi = (b.replace(tzinfo=None) for b in _three(c, tz))
    at_n = _dateparser(text, now, future)
    if at_n is None:
        raise InstantError(f"cannot read {quoted(text)} as an instant: use {FORMS}")
    if lo.date() == now.date() == hi.date():
        # The bar stays inside today: a reading that kept now's time of day moves with it, and any
        # other depends on the date alone (a parse costs ~0.7 ms, so it is not done three times).
        carried = at_n.tzinfo is None and at_n.time() == now.time()
        lo_n, hi_n = (at_n + (lo - now), at_n + (hi - now)) if carried else (at_n, at_n)
    else:
        lo_n, hi_n = _dateparser(text, lo, future), _dateparser(text, hi, future)
        if lo_n is None or hi_n is None:
            raise InstantError(f"cannot read {quoted(text)} as an instant: use {FORMS}")
    date_only = not TIME_OF_DAY.search(low)

    def placed_of(naive: datetime) -> Placed:
        if naive.tzinfo is not None:  # the text named its own zone or offset
            return Placed(naive.astimezone(tz))
        return place(datetime.combine(naive.date(), time()) if date_only else naive, tz)

    at, lo, hi = (placed_of(n) for n in (at_n, lo_n, hi_n))
    shown = at.at.date().isoformat() + f" ({_day_name(at.at.date())}), a date" if date_only else _show(at.at)
    return Instant(
        at.at,
        lo.at,
        hi.at,
        f"{text} = {shown}",
        from_now=True,
        date_only=date_only,
        placed=at if at.kind else None,
    )


def _dateparser(text: str, base: datetime, future: bool) -> datetime | None:
    """dateparser's reading of `text` against the wall-clock `base`: English only, and the current
    period preferred ('9am' is today's, 'march 5' this year's) except for a bare weekday, which
    is the coming one."""
    from dateparser.date import DateDataParser

    settings = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "future" if future else "current_period",
    }
    data = DateDataParser(languages=["en"], settings=settings).get_date_data(text)
    return None if data is None else data.date_obj


def uses_now(value: str | int | float | None) -> bool:
    """Whether reading `value` may need the clock (so a tool waits for a starting engine)."""
    if value is None:
        return True
    if isinstance(value, int | float):
        return False
    low = value.strip().lower()
    return not (NUMBER.fullmatch(low) or ISO_DATE.fullmatch(low) or ISO_DATETIME.fullmatch(low))


def with_how(instant: Instant, how: str) -> Instant:
    return replace(instant, interpreted_as=how)
