"""Business days: the days of a country's working week less its public holidays, as the
`holidays` package keeps them (imported on first use, so it never delays a server's start).

A count between two dates takes the days after the first up to and including the second, so that
adding N business days to a date gives a date N business days after it (numpy's busday_count takes
the other half-open interval; this one makes the two tools each other's inverse).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache, lru_cache
from typing import Any

from chronotick_engine.errors import quoted

MAX_SPAN_DAYS = 100 * 366  # a century of days: longer spans say nothing an agent needs
MAX_LISTED = 100  # holidays named in one answer


class BusinessDayError(ValueError):
    """An unknown country or subdivision (with suggestions), or a span too long, in one line."""


@dataclass(frozen=True)
class Skipped:
    day: date
    names: list[str]


@dataclass
class WorkCalendar:
    country: str
    subdivision: str | None
    holidays: Any  # holidays.HolidayBase, which loads each year on first look
    weekend: tuple[int, ...] = field(default=())

    def is_business_day(self, day: date) -> bool:
        return bool(self.holidays.is_working_day(day))

    def holiday(self, day: date) -> Skipped | None:
        """The holiday(s) on `day` when they fall on a working weekday (so they were skipped)."""
        if day.weekday() in self.weekend:
            return None
        names = self.holidays.get_list(day)
        return Skipped(day, list(names)) if names else None


@cache
def _countries() -> dict[str, list[str]]:
    import holidays

    return {code: list(subdivs) for code, subdivs in holidays.list_supported_countries().items()}


@cache
def _country_names() -> dict[str, str]:
    from holidays import registry

    names: dict[str, str] = {}
    for module, (cls, code, *_rest) in registry.COUNTRIES.items():
        names[module.replace("_", " ")] = code
        names[cls.lower()] = code
    return names


def _suggest(key: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(key[:40], choices, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def calendar(country: str, subdivision: str | None = None) -> WorkCalendar:
    """calendar_of(), kept per country and subdivision: a HolidayBase computes each year once."""
    return _calendar(country.strip(), None if subdivision is None else subdivision.strip())


@lru_cache(maxsize=256)
def _calendar(country: str, subdivision: str | None) -> WorkCalendar:
    return calendar_of(country, subdivision)


def calendar_of(country: str, subdivision: str | None = None) -> WorkCalendar:
    """The working calendar of an ISO 3166 country code (or English name) and, optionally, a
    subdivision code ('DE', 'BY'); BusinessDayError naming the closest when either is unknown."""
    text = country.strip()
    code = text.upper()
    countries = _countries()
    if code not in countries:
        code = _country_names().get(text.lower().replace("_", " "), "")
    if code not in countries:
        names = list(countries) + sorted(_country_names())
        raise BusinessDayError(
            f"unknown country {quoted(country)}: use an ISO 3166 code such as 'US', 'DE' or 'JP'"
            + _suggest(text.lower() if len(text) > 3 else text.upper(), names)
        )
    subdiv = None
    if subdivision is not None and subdivision.strip():
        subdiv = subdivision.strip().upper()
        known = countries[code]
        if subdiv not in [s.upper() for s in known]:
            listed = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
            raise BusinessDayError(
                f"unknown subdivision {quoted(subdivision)} of {code}"
                + (f": use one of {listed}" if known else f": {code} has none in the holidays data")
                + _suggest(subdiv, known)
            )
        subdiv = next(s for s in known if s.upper() == subdiv)
    import holidays

    h = holidays.country_holidays(code, subdiv=subdiv)
    return WorkCalendar(code, subdiv, h, tuple(sorted(getattr(h, "weekend", {5, 6}))))


def _check_span(days: int) -> None:
    if abs(days) > MAX_SPAN_DAYS:
        raise BusinessDayError("business days are counted over at most 100 years")


def count(cal: WorkCalendar, start: date, end: date) -> tuple[int, list[Skipped]]:
    """Business days in (start, end], negative when end is before start; the holidays skipped."""
    _check_span((end - start).days)
    sign = 1 if end >= start else -1
    lo, hi = (start, end) if sign > 0 else (end, start)
    n, skipped = 0, []
    day = lo + timedelta(days=1)
    while day <= hi:
        if cal.is_business_day(day):
            n += 1
        else:
            h = cal.holiday(day)
            if h is not None:
                skipped.append(h)
        day += timedelta(days=1)
    return sign * n, skipped


def add(cal: WorkCalendar, start: date, n: int) -> tuple[date, list[Skipped]]:
    """The date `n` business days after `start` (before it for a negative n); the holidays skipped.
    Zero gives `start` itself, business day or not."""
    step = timedelta(days=1 if n >= 0 else -1)
    day, left, skipped = start, abs(n), []
    while left:
        try:
            day += step
        except OverflowError:
            raise BusinessDayError("the result falls outside the years 1-9999") from None
        _check_span((day - start).days)
        if cal.is_business_day(day):
            left -= 1
        else:
            h = cal.holiday(day)
            if h is not None:
                skipped.append(h)
    return day, skipped
