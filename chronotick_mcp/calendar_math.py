"""Calendar arithmetic on a zone's wall clock, on the standard library's zoneinfo alone.

Calendar units (years, months, weeks, days) move the wall clock, so 09:00 stays 09:00 across a DST
change; exact units (hours, minutes, seconds) move elapsed time. Years and months go first and a
day the new month lacks is clamped to its last day; then weeks and days; then the exact units.
A wall time the zone skips (a gap) is read with the offset before the gap, so it lands as far past
the gap as it was into it; one that occurs twice (a fold) is its earlier instant. That is RFC 5545's
rule for local DATE-TIME values (section 3.3.5), which JavaScript's Temporal calls 'compatible'.

Tests hold all of it against `whenever`, an independent implementation (tests/test_calendar_math.py).
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

MAX_YEARS = 10_000  # a duration longer than this says nothing an agent needs
MAX_MONTHS = MAX_YEARS * 12
MAX_DAYS = MAX_YEARS * 366
MAX_EXACT_SECONDS = MAX_DAYS * 86_400


class CalendarError(ValueError):
    """A result outside the years 1-9999, or a duration outside the limits, in one line."""


OUT_OF_RANGE = "falls outside the years 1-9999"


@dataclass(frozen=True)
class Duration:
    """A calendar part (years, months, weeks, days) and an exact part (hours, minutes, seconds)."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if abs(self.total_months) > MAX_MONTHS or abs(self.total_days) > MAX_DAYS:
            raise CalendarError(f"a duration is at most {MAX_YEARS:,} years")
        if abs(self.hours * 3600 + self.minutes * 60 + self.seconds) > MAX_EXACT_SECONDS:
            raise CalendarError(f"a duration is at most {MAX_YEARS:,} years")

    @property
    def total_months(self) -> int:
        return self.years * 12 + self.months

    @property
    def total_days(self) -> int:
        return self.weeks * 7 + self.days

    @property
    def exact(self) -> timedelta:
        return timedelta(hours=self.hours, minutes=self.minutes, seconds=self.seconds)

    @property
    def has_calendar_part(self) -> bool:
        return self.total_months != 0 or self.total_days != 0

    def iso(self) -> str:
        """ISO 8601 ('P1Y2M', '-PT90M'); mixed signs, which ISO cannot write, each part signed."""
        parts = [self.years, self.months, self.weeks, self.days, self.hours, self.minutes, self.seconds]
        negative = all(p <= 0 for p in parts) and any(p < 0 for p in parts)
        sign = -1 if negative else 1
        y, mo, w, d, h, mi, s = (sign * p for p in parts)
        text = "".join(f"{v}{u}" for v, u in ((y, "Y"), (mo, "M"), (w, "W"), (d, "D")) if v)
        clock = "".join(f"{v}{u}" for v, u in ((h, "H"), (mi, "M")) if v)
        if s:
            clock += f"{_seconds_text(s)}S"
        body = text + (f"T{clock}" if clock else "")
        return ("-" if negative else "") + "P" + (body or "T0S")


def _seconds_text(s: float) -> str:
    return str(int(s)) if float(s).is_integer() else f"{s:.6f}".rstrip("0")


ISO_DURATION = re.compile(
    r"(?P<sign>[+-])?P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d{1,9})?)S)?)?",
    re.IGNORECASE,
)
DURATION_FORMS = "ISO 8601 such as 'P1M', 'P2W3D', '-PT90M' or 'P1Y2M3DT4H5M6.5S'"


def parse_duration(text: str) -> Duration:
    """An ISO 8601 duration; weeks may combine with other units (ISO 8601-2); only seconds may
    have a fraction. CalendarError (one line) for anything else."""
    m = ISO_DURATION.fullmatch(text.strip())
    if not m or text.strip().upper().endswith("T") or not any(m[k] for k in Duration.__dataclass_fields__):
        raise CalendarError(f"invalid duration: use {DURATION_FORMS}")
    sign = -1 if m["sign"] == "-" else 1
    fields: dict[str, float] = {}
    for key in Duration.__dataclass_fields__:
        value = m[key]
        if value is None:
            continue
        if len(value) > 12:
            raise CalendarError(f"a duration is at most {MAX_YEARS:,} years")
        fields[key] = sign * (float(value.replace(",", ".")) if key == "seconds" else int(value))
    return Duration(**fields)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- wall and instant


@dataclass(frozen=True)
class Placed:
    """The instant a wall time names, and what was done when the zone skips or repeats it."""

    at: datetime  # aware, in the zone
    kind: str | None = None  # None, 'gap' or 'fold'
    rule: str | None = None  # the rule applied, in one sentence, when kind is set


def wall_instants(naive: datetime, tz: ZoneInfo) -> list[datetime]:
    """Every instant a wall time names: one, two in a fold, none in a gap."""
    found: list[datetime] = []
    for fold in (0, 1):
        candidate = naive.replace(tzinfo=tz, fold=fold)
        back = datetime.fromtimestamp(candidate.timestamp(), tz)
        if back.replace(tzinfo=None) == naive and all(c.timestamp() != back.timestamp() for c in found):
            found.append(back)
    return sorted(found, key=lambda d: d.timestamp())


def place(naive: datetime, tz: ZoneInfo) -> Placed:
    """The instant of wall time `naive` in `tz`, a gap or a fold resolved by RFC 5545's rule."""
    try:
        found = wall_instants(naive, tz)
        if len(found) == 1:
            return Placed(found[0])
        wall = naive.isoformat(timespec="seconds")
        if len(found) == 2:
            a, b = found
            return Placed(
                a,
                "fold",
                f"{wall} occurs twice in {tz.key} (UTC{_offset(a)} and UTC{_offset(b)}); the earlier was "
                "taken, as RFC 5545 reads a repeated local time",
            )
        # In a gap, fold=0 reads the wall time with the offset before the transition (PEP 495).
        at = datetime.fromtimestamp(naive.replace(tzinfo=tz, fold=0).timestamp(), tz)
        return Placed(
            at,
            "gap",
            f"{wall} does not exist in {tz.key} (the clocks skip it); it was read with the offset before "
            f"the gap, giving {at.replace(tzinfo=None).isoformat(timespec='seconds')}, as RFC 5545 reads "
            "a skipped local time",
        )
    except (OverflowError, ValueError, OSError):
        raise CalendarError(OUT_OF_RANGE) from None


def _offset(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta()
    sign = "-" if off < timedelta() else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in `tz` (01:00 where a transition skips midnight)."""
    return place(datetime.combine(day, time()), tz).at


def exact_add(at: datetime, delta: timedelta) -> datetime:
    """`at` moved by elapsed time (an aware datetime's own + moves its wall clock instead)."""
    try:
        return (at.astimezone(UTC) + delta).astimezone(at.tzinfo)
    except (OverflowError, ValueError, OSError):
        raise CalendarError(OUT_OF_RANGE) from None


# ---------------------------------------------------------------------------------------- shifting


@dataclass(frozen=True)
class Shifted:
    at: datetime
    clamped: str | None = None  # the month's missing day, and the last day taken instead
    placed: Placed | None = None  # how the shifted wall time was placed (its gap or fold)


def add_months(day: date, months: int) -> tuple[date, bool]:
    """`day` moved by whole months, clamped to the month's last day; whether it was clamped."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise CalendarError(OUT_OF_RANGE)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last)), day.day > last


def shift(at: datetime, d: Duration) -> Shifted:
    """`at` (aware, in its zone) moved by `d`: calendar units on the wall clock, then exact ones."""
    tz = at.tzinfo
    assert isinstance(tz, ZoneInfo)
    clamped: str | None = None
    placed: Placed | None = None
    out = at
    if d.has_calendar_part:
        wall = at.replace(tzinfo=None, fold=0)
        day, was_clamped = add_months(wall.date(), d.total_months)
        if was_clamped:
            clamped = (
                f"{day.year:04d}-{day.month:02d}-{wall.day:02d} does not exist: clamped to "
                f"{day.isoformat()}, the month's last day"
            )
        try:
            day = day + timedelta(days=d.total_days)
        except OverflowError:
            raise CalendarError(OUT_OF_RANGE) from None
        placed = place(datetime.combine(day, wall.time()), tz)
        out = placed.at
    if d.exact:
        out = exact_add(out, d.exact)
    return Shifted(out, clamped, placed)


# ------------------------------------------------------------------------------------- differences


@dataclass(frozen=True)
class Difference:
    """end - start: whole months and days on the wall clock, then the exact rest; shifting start
    by it gives end again. Every part has end's sign relative to start."""

    months: int
    days: int
    exact: timedelta

    @property
    def parts(self) -> dict[str, float]:
        sign = -1 if self.exact < timedelta() or self.months < 0 or self.days < 0 else 1
        rest = abs(self.exact.total_seconds())
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        m = abs(self.months)
        return {
            "years": sign * (m // 12),
            "months": sign * (m % 12),
            "days": sign * abs(self.days),
            "hours": sign * int(hours),
            "minutes": sign * int(minutes),
            "seconds": sign * round(seconds, 6) + 0.0,
        }


def difference(start: datetime, end: datetime) -> Difference:
    """The calendar difference from `start` to `end` in `start`'s zone: the most whole months, then
    the most whole days, that do not carry start past end, then the exact remainder."""
    tz = start.tzinfo
    assert isinstance(tz, ZoneInfo)
    # Aware datetimes of one tzinfo subtract and compare by wall clock (PEP 495): compare in UTC.
    end = end.astimezone(tz)
    t_end = end.astimezone(UTC)
    sign = 1 if t_end >= start.astimezone(UTC) else -1

    def passes(candidate: datetime) -> bool:
        c = candidate.astimezone(UTC)
        return (c > t_end) if sign > 0 else (c < t_end)

    s, e = start.replace(tzinfo=None), end.replace(tzinfo=None)
    months = _most(
        passes, start, (e.year - s.year) * 12 + (e.month - s.month), sign, lambda n: Duration(months=n)
    )
    base = shift(start, Duration(months=months)).at if months else start
    days_guess = (e.date() - base.replace(tzinfo=None).date()).days
    days = _most(passes, start, days_guess, sign, lambda n: Duration(months=months, days=n))
    mid = shift(start, Duration(months=months, days=days)).at if (months or days) else start
    return Difference(months, days, t_end - mid.astimezone(UTC))


def _most(passes, start: datetime, guess: int, sign: int, make) -> int:
    """The largest count n (in the direction of `sign`, from 0) whose shift does not pass the end,
    searched from `guess`, which is at most a couple of units off."""
    n = guess if guess * sign > 0 else 0
    while n != 0 and _passes_or_fails(passes, start, make(n)):
        n -= sign
    while not _passes_or_fails(passes, start, make(n + sign)):
        n += sign
    return n


def _passes_or_fails(passes, start: datetime, d: Duration) -> bool:
    """Whether shifting `start` by `d` overshoots (or cannot be done inside the years 1-9999)."""
    try:
        return passes(shift(start, d).at)
    except CalendarError:
        return True


# ------------------------------------------------------------------------------------- transitions


@dataclass(frozen=True)
class Transition:
    at: datetime  # the first instant of the new rules, in the zone
    offset_before: str
    offset_after: str
    dst_before: bool
    dst_after: bool
    abbreviation_before: str
    abbreviation_after: str


SCAN_STEP_S = 86400  # a day: no zone has changed its rules twice within one day and back
SCAN_YEARS = 40
DAY_S = 86400


def _rules(ts: float, tz: ZoneInfo) -> tuple:
    d = datetime.fromtimestamp(ts, tz)
    return d.utcoffset(), d.dst(), d.tzname()


def transition(at: datetime, forward: bool) -> Transition | None:
    """The zone's next (or previous) change of offset, DST or abbreviation, strictly after (before)
    `at`, within SCAN_YEARS; None when there is none. The scan from each UTC day is cached, so
    that 'today' costs its scan once a day."""
    tz = at.tzinfo
    assert isinstance(tz, ZoneInfo)
    t = at.timestamp()
    day = math.floor(t / DAY_S) * DAY_S
    if forward:
        found = _scan(tz.key, float(day), True)
        while found is not None and found.at.timestamp() <= t:
            found = _scan(tz.key, found.at.timestamp(), True)
    else:
        found = _scan(tz.key, float(day + DAY_S), False)
        while found is not None and found.at.timestamp() >= t:
            found = _scan(tz.key, found.at.timestamp(), False)
    return found


@lru_cache(maxsize=4096)
def _scan(key: str, t0: float, forward: bool) -> Transition | None:
    """The first change strictly after `t0` (forward), or the last strictly before it."""
    tz = ZoneInfo(key)
    step = SCAN_STEP_S if forward else -SCAN_STEP_S
    lo = t0 if forward else t0 - 1e-6
    here = _rules(lo, tz)
    for _ in range(SCAN_YEARS * 366 * DAY_S // SCAN_STEP_S):
        hi = lo + step
        try:
            there = _rules(hi, tz)
        except (OverflowError, ValueError, OSError):
            return None
        if there != here:
            return _bisect(tz, lo, hi, here) if forward else _bisect(tz, hi, lo, there)
        lo = hi
    return None


def _bisect(tz: ZoneInfo, a: float, b: float, rules_a: tuple) -> Transition:
    """The first whole second in (a, b] whose rules differ from `rules_a` (a < b); zones change
    their rules on whole seconds."""
    lo, hi = math.floor(a), math.ceil(b)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _rules(mid, tz) == rules_a:
            lo = mid
        else:
            hi = mid
    before = datetime.fromtimestamp(hi - 1, tz)
    after = datetime.fromtimestamp(hi, tz)
    return Transition(
        at=after,
        offset_before=_offset(before),
        offset_after=_offset(after),
        dst_before=bool(before.dst()),
        dst_after=bool(after.dst()),
        abbreviation_before=before.tzname() or "",
        abbreviation_after=after.tzname() or "",
    )
