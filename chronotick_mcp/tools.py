"""The ChronoTick tools, each defined once: an input model, a result model and a function.

The stdio and HTTP servers (app.py) and the claude-agent-sdk server (sdk.py) derive every schema
from these models and only wrap the functions. Every error an agent can cause or meet is a
ToolFailure with a one-line message.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from chronotick_engine.client import MAX_FUTURE_SECONDS
from chronotick_engine.errors import quoted
from chronotick_mcp.clock import UNVERIFIED, Now, ToolContext, ToolFailure, elapsed_ms
from chronotick_mcp.convert import convert_time, zone_or_failure
from chronotick_mcp.models import (
    CompareInput,
    CompareResult,
    ConvertInput,
    ConvertResult,
    CurrentTimeInput,
    CurrentTimeResult,
    DaemonStatusResult,
    FutureInput,
    FutureTimeResult,
    GetTimeInput,
    StatusInput,
    TimeResult,
    TimeUntilInput,
    TimeUntilResult,
)
from chronotick_mcp.status import get_daemon_status
from chronotick_mcp.tool_spec import ToolSpec, one_line
from chronotick_mcp.zones import is_dst, utc_offset

INSTRUCTIONS = (
    "ChronoTick gives the current time with an honest 95% error bar, from the node's ChronoTick daemon or, "
    "when none runs, from the same engine inside this server. Prefer get_time over guessing the date or "
    "time; check status and uncertainty_ms before relying on sub-second precision (UNVERIFIED means the "
    "plain system clock, and note says why). compare_times and time_until decide order and deadlines "
    "from the error bars, and answer 'uncertain' rather than guess."
)


def package_version() -> str:
    """The installed chronotick's version, reported as the MCP serverInfo version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chronotick")
    except PackageNotFoundError:
        return "0+unknown"


REMOTE_NOTE = (
    " Over HTTP from another host, your own 'now' is later than this reading by the network delay: "
    "call_latency_ms is the server's own share."
)


# ---------------------------------------------------------------------------------------- helpers


def _iso(ts: float, tz) -> str:
    return datetime.fromtimestamp(ts, tz or UTC).isoformat(timespec="microseconds")


# ------------------------------------------------------------------------------------------ tools


def get_time(ctx: ToolContext, args: GetTimeInput) -> TimeResult:
    start = time.perf_counter()
    tz, name = zone_or_failure(ctx.local_zone if args.timezone is None else args.timezone, ctx.local_zone)
    now = ctx.now()
    r = now.reading
    shown = now.system_unix if r is None else r.corrected_timestamp
    local = datetime.fromtimestamp(shown, tz)
    return TimeResult(
        corrected_unix=shown,
        corrected_unix_ns=round(shown * 1e9) if r is None else r.corrected_ns,
        unix_ms=int(shown * 1e3) if r is None else r.corrected_ns // 1_000_000,
        iso=local.isoformat(timespec="microseconds"),
        timezone=name,
        day_of_week=local.strftime("%A"),
        is_dst=is_dst(local),
        utc_offset=utc_offset(local),
        uncertainty_ms=None if r is None else r.uncertainty_seconds * 1e3,
        earliest=None if r is None else r.earliest,
        latest=None if r is None else r.latest,
        status=UNVERIFIED if r is None else r.status,
        source="system_clock" if r is None else r.source,
        confidence=0.0 if r is None else r.confidence,
        offset_ms=None if r is None else r.offset_correction * 1e3,
        drift_ppm=None if r is None else r.drift_rate * 1e6,
        system_unix=now.system_unix,
        seconds_since_ntp=None if r is None else r.seconds_since_ntp,
        engine=now.served.engine,
        note=now.note,
        call_latency_ms=elapsed_ms(start),
    )


def get_current_time(ctx: ToolContext, args: CurrentTimeInput) -> CurrentTimeResult:
    """The official server's tool, to the second, on the corrected clock: a drop-in for it."""
    start = time.perf_counter()
    t = get_time(ctx, GetTimeInput(timezone=args.timezone))
    local = datetime.fromtimestamp(t.corrected_unix, zone_or_failure(t.timezone, ctx.local_zone)[0])
    return CurrentTimeResult(
        timezone=t.timezone,
        datetime=local.replace(microsecond=0).isoformat(timespec="seconds"),
        day_of_week=local.strftime("%A"),
        is_dst=is_dst(local),
        utc_offset=utc_offset(local),
        uncertainty_ms=t.uncertainty_ms,
        earliest=t.earliest,
        latest=t.latest,
        status=t.status,
        engine=t.engine,
        note=t.note,
        call_latency_ms=elapsed_ms(start),
    )


def _required(now: Now) -> Now:
    if now.reading is None:
        raise ToolFailure(f"no error bar to project: {now.note}; get_time still gives the time")
    return now


def get_time_with_future_uncertainty(ctx: ToolContext, args: FutureInput) -> FutureTimeResult:
    start = time.perf_counter()
    now = _required(ctx.now()).reading
    fut = _required(ctx.now(args.future_seconds)).reading if args.future_seconds else now
    assert now is not None and fut is not None
    return FutureTimeResult(
        current_unix=now.corrected_timestamp,
        current_iso=_iso(now.corrected_timestamp, None),
        current_uncertainty_ms=now.uncertainty_seconds * 1e3,
        future_seconds=args.future_seconds,
        future_unix=fut.corrected_timestamp,
        future_iso=_iso(fut.corrected_timestamp, None),
        future_uncertainty_ms=fut.uncertainty_seconds * 1e3,
        uncertainty_increase_ms=(fut.uncertainty_seconds - now.uncertainty_seconds) * 1e3,
        status=now.status,
        call_latency_ms=elapsed_ms(start),
    )


def compare_times(ctx: ToolContext, args: CompareInput) -> CompareResult:
    start = time.perf_counter()
    a, b = args.a.bounds(), args.b.bounds()
    if a is None or b is None:
        which = " and ".join(n for n, x in (("a", a), ("b", b)) if x is None)
        why = (
            f"{which} carries no error bar (an {UNVERIFIED} reading of a system clock): its order cannot be "
            "claimed; take both from get_time once its status is SYNCHRONIZED"
        )
        return CompareResult(
            order="uncertain",
            gap_ms=None,
            a=a and list(a),
            b=b and list(b),
            explanation=why,
            call_latency_ms=elapsed_ms(start),
        )
    (a0, a1), (b0, b1) = a, b
    if a1 < b0:
        order, gap = "before", b0 - a1
        why = f"a ended at most {a1:.6f} and b began at least {b0:.6f}: a happened before b at 95% confidence"
    elif a0 > b1:
        order, gap = "after", a0 - b1
        why = f"a began at least {a0:.6f} and b ended at most {b1:.6f}: a happened after b at 95% confidence"
    else:
        order, gap = "overlapping", -(min(a1, b1) - max(a0, b0))
        why = f"the intervals overlap by {-gap * 1e3:.3f} ms: neither order can be claimed at 95%; wait out the overlap or narrow the bounds"
    return CompareResult(
        order=order,
        gap_ms=gap * 1e3,
        a=[a0, a1],
        b=[b0, b1],
        explanation=why,
        call_latency_ms=elapsed_ms(start),
    )


def _target_unix(target: str | int | float) -> float:
    """Unix seconds from an ISO-8601 date or date-time (UTC unless it says otherwise) or a number of
    Unix seconds, given as a number or as a string of one. A number past 10^11 is refused: it is
    milliseconds (get_time's unix_ms) far more often than a date 1,200 years from now."""
    if isinstance(target, str):
        text = target.strip()
        try:
            target = float(text) if text.lstrip("+-").replace(".", "", 1).isdigit() else target
        except ValueError:
            pass
    if isinstance(target, int | float):
        # An int past a float's range (10**400) is no time either: compare before converting.
        if isinstance(target, float) and not math.isfinite(target):
            raise ToolFailure("target must be a finite Unix time")
        if abs(target) > 1e11:
            raise ToolFailure(
                f"target {quoted(target)} looks like milliseconds (get_time's unix_ms): give Unix seconds, "
                "i.e. divide by 1000, or an ISO-8601 date-time"
            )
        return float(target)
    try:
        dt = datetime.fromisoformat(target.strip().replace("Z", "+00:00"))
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        raise ToolFailure(
            f"invalid target {quoted(target)}: use an ISO-8601 date or date-time, or Unix seconds"
        ) from None


def time_until(ctx: ToolContext, args: TimeUntilInput) -> TimeUntilResult:
    start = time.perf_counter()
    target = _target_unix(args.target)
    now = ctx.now()
    r = now.reading
    if r is None:
        return TimeUntilResult(
            target_unix=target,
            seconds=target - now.system_unix,
            min_seconds=None,
            max_seconds=None,
            passed="uncertain",
            status=UNVERIFIED,
            uncertainty_ms=None,
            note=now.note,
            call_latency_ms=elapsed_ms(start),
        )
    passed = "yes" if r.earliest > target else "no" if r.latest < target else "uncertain"
    return TimeUntilResult(
        target_unix=target,
        seconds=target - r.corrected_timestamp,
        min_seconds=target - r.latest,
        max_seconds=target - r.earliest,
        passed=passed,
        status=r.status,
        uncertainty_ms=r.uncertainty_seconds * 1e3,
        call_latency_ms=elapsed_ms(start),
    )


# ------------------------------------------------------------------------------------------ specs


__all__ = ["CORE_TOOLS", "ToolContext", "ToolFailure", "ToolSpec", "one_line"]  # and TOOLS, BY_NAME

CORE_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "get_time",
        "Get corrected time",
        "Current time, corrected against NTP (NTS-authenticated by default), with an honest 95% error bar, "
        "from the node's ChronoTick daemon or the engine inside this server. "
        "Use it whenever you need the time or date, to timestamp an action, or to know how far the clock "
        "can be trusted. The truth lies in [earliest, latest] with 95% confidence; uncertainty_ms is the "
        "half-width. status SYNCHRONIZED means fresh NTP data; FREE_RUNNING means the bound is growing "
        "since NTP was last heard; UNVERIFIED means no time server has answered yet: the reading is the "
        "plain system clock, earliest/latest are null and note says why. Optional timezone (IANA, e.g. 'Europe/Paris'); default: the server's "
        "local zone, reported in timezone." + REMOTE_NOTE,
        GetTimeInput,
        TimeResult,
        get_time,
        waits=True,
    ),
    ToolSpec(
        "get_current_time",
        "Get current time",
        "Current time in a specific timezone, exactly as the official time server's get_current_time "
        "(timezone, datetime to the second, day_of_week, is_dst), read from the corrected clock, with "
        "the 95% error bar beside it (earliest, latest, uncertainty_ms, status). Use get_time for "
        "microseconds, Unix time and the full detail." + REMOTE_NOTE,
        CurrentTimeInput,
        CurrentTimeResult,
        get_current_time,
        waits=True,
    ),
    ToolSpec(
        "convert_time",
        "Convert time between zones",
        "Convert a wall-clock time from one IANA zone to another, like the official time server: 'HH:MM' "
        "(today in the source zone, today taken from the corrected clock) or a full ISO-8601 date-time. "
        "Returns both sides with day_of_week, is_dst and utc_offset, and time_difference ('+5.75h'). A "
        "time that occurs twice (DST fall-back) is flagged ambiguous with every reading; a time the "
        "clocks skip is an error.",
        ConvertInput,
        ConvertResult,
        convert_time,
    ),
    ToolSpec(
        "compare_times",
        "Order two timestamps",
        "Decide whether event a surely happened before or after event b, TrueTime-style, from their error "
        "bars: pass each as {earliest, latest} or {corrected_unix, uncertainty_ms}, e.g. the get_time "
        "results two agents took on different machines. 'overlapping' means the order cannot be claimed "
        "at 95%. Use it for causality and conflict decisions instead of comparing bare timestamps.",
        CompareInput,
        CompareResult,
        compare_times,
    ),
    ToolSpec(
        "time_until",
        "Time until an instant",
        "Seconds from now until a target instant (ISO-8601 or Unix seconds) on the corrected clock, with "
        "the [min_seconds, max_seconds] the error bar allows, and passed: yes only when the target is "
        "surely past (earliest > target), no only when surely ahead (latest < target), else uncertain. "
        "Use it for deadlines and commit-wait: act on 'yes', never on 'uncertain'." + REMOTE_NOTE,
        TimeUntilInput,
        TimeUntilResult,
        time_until,
        waits=True,
    ),
    ToolSpec(
        "get_daemon_status",
        "Get daemon status",
        "Health of the ChronoTick daemon: status, uptime, NTP readiness, measurement count, time since the "
        "last NTP sample, publish rate and per-server NTP state (whether each server's time is NTS-"
        "authenticated, and why not), plus a one-line summary. Use it to "
        "explain why get_time is failing or uncertain, not to read the time.",
        StatusInput,
        DaemonStatusResult,
        get_daemon_status,
    ),
    ToolSpec(
        "get_time_with_future_uncertainty",
        "Get time with future uncertainty",
        f"Corrected time now and at now + future_seconds (0-{MAX_FUTURE_SECONDS:g}), with the 95% uncertainty each will "
        "have. Use it to pick a coordination instant whose error bar you can afford: the uncertainty "
        "grows with the horizon because the clock's drift is only known to a tolerance.",
        FutureInput,
        FutureTimeResult,
        get_time_with_future_uncertainty,
        waits=True,
    ),
)

_LAZY = ("TOOLS", "BY_NAME", "CALENDAR_TOOLS")


def __getattr__(name: str) -> Any:
    """TOOLS, BY_NAME and CALENDAR_TOOLS, with the calendar tools imported on first use: their
    models cost some 40 ms to build, which the stdio server spends after `initialize`, not before."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from chronotick_mcp import calendar_tools

    every = CORE_TOOLS + calendar_tools.SPECS
    globals().update(CALENDAR_TOOLS=calendar_tools.SPECS, TOOLS=every, BY_NAME={t.name: t for t in every})
    return globals()[name]
