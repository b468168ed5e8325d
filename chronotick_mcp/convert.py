"""The convert_time tool: a wall-clock time from one zone to another, as the official time server
does it, with DST folds flagged and gaps refused; "today" for an HH:MM time from the clock."""

from __future__ import annotations

import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from chronotick_engine.errors import quoted
from chronotick_mcp.clock import ToolContext, ToolFailure, elapsed_ms
from chronotick_mcp.models import Conversion, ConvertInput, ConvertResult, ZonedTime
from chronotick_mcp.zones import ZoneError, hours_difference, is_dst, local_instants, resolve, utc_offset


def zone_or_failure(name: str, local: str) -> tuple[ZoneInfo, str]:
    """resolve(), with its error as the tool's one-line failure."""
    try:
        return resolve(name, local)
    except ZoneError as exc:
        raise ToolFailure(str(exc)) from None


CLOCK_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _wall_clock(text: str) -> tuple[int, int, int] | None:
    """(hour, minute, second) of 'H:MM', 'HH:MM' or 'HH:MM:SS'; None for anything else."""
    m = CLOCK_TIME.fullmatch(text)
    if not m:
        return None
    h, mi, sec = int(m[1]), int(m[2]), int(m[3] or 0)
    if h > 23 or mi > 59 or sec > 59:
        raise ValueError
    return h, mi, sec


def _zoned(dt: datetime, name: str) -> ZonedTime:
    spec = "seconds" if dt.microsecond == 0 else "microseconds"
    return ZonedTime(
        timezone=name,
        datetime=dt.isoformat(timespec=spec),
        day_of_week=dt.strftime("%A"),
        is_dst=is_dst(dt),
        utc_offset=utc_offset(dt),
    )


def _today(ctx: ToolContext, tz) -> tuple[datetime, str]:
    try:
        now = ctx.now()
    except ToolFailure:
        return datetime.now(tz), "system clock (the ChronoTick daemon is not available)"
    if now.reading is None:
        return datetime.fromtimestamp(
            now.system_unix, tz
        ), "system clock (unverified: no synchronised estimate)"
    return datetime.fromtimestamp(now.reading.corrected_timestamp, tz), "corrected clock"


def convert_time(ctx: ToolContext, args: ConvertInput) -> ConvertResult:
    start = time.perf_counter()
    src_tz, src_name = zone_or_failure(args.source_timezone, ctx.local_zone)
    dst_tz, dst_name = zone_or_failure(args.target_timezone, ctx.local_zone)
    args = args.model_copy(update={"source_timezone": src_name, "target_timezone": dst_name})
    text = args.time.strip()
    today_from = "not needed: the time carries its date"
    try:
        clock = _wall_clock(text)
        if clock is not None:
            today, today_from = _today(ctx, src_tz)
            naive: datetime | None = today.replace(
                tzinfo=None, hour=clock[0], minute=clock[1], second=clock[2], microsecond=0
            )
            given = None
        else:
            if "T" not in text and " " not in text and not DATE.fullmatch(text):
                raise ValueError
            given = datetime.fromisoformat(text.replace("Z", "+00:00"))
            naive = given if given.tzinfo is None else None
    except ValueError:
        raise ToolFailure(
            f"invalid time {quoted(args.time)}: use 'HH:MM' or 'HH:MM:SS' (24 h), an ISO-8601 date, or a "
            "date-time such as 2026-03-08T02:30"
        ) from None
    try:
        conversions = _conversions(naive, given, src_tz, dst_tz, args)
    except (OverflowError, ValueError, OSError):
        raise ToolFailure(
            f"{quoted(args.time)} in {args.source_timezone} falls outside the years 1-9999 once converted "
            f"to {args.target_timezone}: pick a date inside them"
        ) from None
    first = conversions[0]
    return ConvertResult(
        source=first.source,
        target=first.target,
        time_difference=first.time_difference,
        ambiguous=len(conversions) > 1,
        alternatives=conversions[1:],
        today_from=today_from,
        call_latency_ms=elapsed_ms(start),
    )


def _conversions(naive, given, src_tz, dst_tz, args: ConvertInput) -> list[Conversion]:
    if naive is None:
        assert given is not None
        instants = [given.astimezone(src_tz)]
    else:
        instants = local_instants(naive, src_tz)
        if not instants:
            raise ToolFailure(
                f"{naive.isoformat(timespec='minutes')} does not exist in {args.source_timezone}: "
                "the clocks skip it (a DST change); pick a time outside the gap"
            )
    conversions = []
    for source in instants:
        target = source.astimezone(dst_tz)
        conversions.append(
            Conversion(
                source=_zoned(source, args.source_timezone),
                target=_zoned(target, args.target_timezone),
                time_difference=hours_difference(source, target),
            )
        )
    return conversions
