"""Recurrences: the next instants of an RFC 5545 RRULE in a zone, expanded on local wall time by
python-dateutil's rrule (imported on first use) and placed in the zone as RFC 5545 says: a local
time the zone skips is read with the offset before the gap, a repeated one is its first instant.

A rule whose parts never hold together ('FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30') has dateutil
search to the year 9999 without yielding, which takes minutes; its own UNTIL is only checked
against matches. So the search runs under a deadline that a trace function enforces inside
dateutil's loop, and such a rule is a one-line error after DEADLINE_S.
"""

from __future__ import annotations

import re
import sys
import time as clock
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chronotick_engine.errors import quoted
from chronotick_mcp.calendar_math import Placed, place

MAX_OCCURRENCES = 1000
MAX_RULE_CHARS = 1000
DEADLINE_S = 0.5  # of search per call: a sparse but real rule (Feb 29 on a Monday) takes < 0.1 s
FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")


class _Deadline(Exception):
    pass


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise _Deadline inside whatever Python code this thread runs once `seconds` have passed:
    the trace function sees every call, and a generator's resumption is one."""
    end = clock.monotonic() + seconds

    def tracer(frame, event, arg):  # noqa: ARG001
        if clock.monotonic() > end:
            raise _Deadline
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)


class RecurrenceError(ValueError):
    """An unreadable rule, or one that yields nothing where it was searched, in one line."""


@dataclass(frozen=True)
class Expansion:
    occurrences: list[Placed]
    ended: bool  # the rule's COUNT or UNTIL ran out before `count` occurrences


def _fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise RecurrenceError(f"invalid RRULE part {quoted(part)}: use KEY=VALUE pairs separated by ';'")
        out[key.strip().upper()] = value.strip()
    return out


def normalise(rule: str, tz: ZoneInfo) -> tuple[str, dict[str, str]]:
    """The RRULE text dateutil reads on wall time: no 'RRULE:' prefix, UNTIL in local wall time."""
    text = rule.strip()
    if len(text) > MAX_RULE_CHARS:
        raise RecurrenceError(f"an RRULE is at most {MAX_RULE_CHARS} characters")
    if "\n" in text or "\r" in text:
        raise RecurrenceError("give one RRULE line (the start goes in `start`, not as a DTSTART line)")
    text = re.sub(r"^rrule:", "", text, flags=re.IGNORECASE)
    fields = _fields(text)
    freq = fields.get("FREQ", "").upper()
    if freq not in FREQUENCIES:
        raise RecurrenceError(
            f"invalid RRULE {quoted(rule)}: FREQ must be one of {', '.join(FREQUENCIES)}, e.g. "
            "'FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0'"
        )
    until = fields.get("UNTIL")
    if until and until.upper().endswith("Z"):
        try:
            utc = datetime.strptime(until.upper(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise RecurrenceError(
                f"invalid UNTIL {quoted(until)}: use YYYYMMDD or YYYYMMDDTHHMMSSZ"
            ) from None
        fields["UNTIL"] = utc.astimezone(tz).replace(tzinfo=None).strftime("%Y%m%dT%H%M%S")
    return ";".join(f"{k}={v}" for k, v in fields.items()), fields


def expand(rule: str, tz: ZoneInfo, start: datetime, after: datetime, count: int) -> Expansion:
    """Up to `count` occurrences strictly after `after`, of `rule` started at wall time `start`
    (naive, in `tz`)."""
    from dateutil.rrule import rrulestr

    text, fields = normalise(rule, tz)
    try:
        parsed = rrulestr(text, dtstart=start, ignoretz=True)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        why = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise RecurrenceError(f"invalid RRULE {quoted(rule)}: {why}") from None
    after_wall = after.astimezone(tz).replace(tzinfo=None)
    counted = "COUNT" in fields  # COUNT counts from the start, so the series is walked from there
    found: list[Placed] = []
    ended = False
    try:
        with _deadline(DEADLINE_S):
            source = iter(parsed) if counted else parsed.xafter(after_wall - timedelta(days=2), inc=True)
            for wall in source:
                placed = place(wall, tz)
                if placed.at.timestamp() > after.timestamp():
                    found.append(placed)
                    if len(found) == count:
                        break
            else:
                ended = True
    except _Deadline:
        if not found:
            raise RecurrenceError(
                f"the rule {quoted(rule)} yields no occurrence after {after.isoformat(timespec='seconds')} "
                f"within {DEADLINE_S:g} s of search: check that its BY parts can hold together "
                "(BYMONTH=2 with BYMONTHDAY=30 never does)"
            ) from None
    except (OverflowError, ValueError):
        ended = True  # dateutil ran into the year 9999
    if not found:
        raise RecurrenceError(
            f"the rule {quoted(rule)} has no occurrence after {after.isoformat(timespec='seconds')}: "
            "its COUNT or UNTIL has run out"
        )
    return Expansion(found, ended)
