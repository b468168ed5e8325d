"""The ChronoTick tools, implemented once as typed functions over ChronoTickClient.

The stdio server (server.py) and the claude-agent-sdk server (sdk.py) only wrap these. Every error
an agent can cause or meet is a ToolFailure with a one-line message.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from chronotick_engine import ChronoTickClient, ChronoTickError
from chronotick_engine.client import MAX_FUTURE_SECONDS
from chronotick_engine.protocol.detail import DaemonDetail, ServerDetail

GET_TIME_DESCRIPTION = (
    "Current time from the node's ChronoTick daemon, corrected against NTP, with an honest 95% error bar. "
    "Use it whenever you need to know the time more precisely than to the second, to timestamp an action, "
    "or to know how far the clock can be trusted. The truth lies in [earliest, latest] with 95% confidence; "
    "uncertainty_ms is the half-width. status SYNCHRONIZED means fresh NTP data; FREE_RUNNING means the "
    "bound is growing since NTP was last heard. Optional timezone (IANA, e.g. 'Europe/Paris') formats iso."
)
STATUS_DESCRIPTION = (
    "Health of the ChronoTick daemon: status, uptime, NTP readiness, measurement count, time since the last "
    "NTP sample, publish rate and per-server NTP state, plus a one-line summary. Use it to explain why "
    "get_time is failing or uncertain, not to read the time."
)
FUTURE_DESCRIPTION = (
    "Corrected time now and at now + future_seconds (0-3600), with the 95% uncertainty each will have. "
    "Use it to pick a coordination instant whose error bar you can afford: the uncertainty grows with the "
    "horizon because the clock's drift is only known to a tolerance."
)


class ToolFailure(Exception):
    """An error to return to the agent as an MCP error result (one line, no traceback)."""


class TimeResult(BaseModel):
    corrected_unix: float = Field(description="corrected time, Unix seconds")
    corrected_unix_ns: int = Field(description="corrected time, Unix nanoseconds")
    iso: str = Field(description="corrected time, ISO-8601 with microseconds, in `timezone`")
    timezone: str
    uncertainty_ms: float = Field(description="95% half-width of the interval, milliseconds")
    earliest: float = Field(description="lower end of the 95% interval, Unix seconds")
    latest: float = Field(description="upper end of the 95% interval, Unix seconds")
    status: str = Field(description="SYNCHRONIZED, FREE_RUNNING, WARMING_UP, DISRUPTED or UNKNOWN")
    source: str = Field(description="what produced the estimate: classical or fused")
    confidence: float = Field(description="recently measured share of NTP samples inside the interval")
    offset_ms: float = Field(description="correction added to the system clock, milliseconds")
    drift_ppm: float = Field(description="estimated frequency error of the local clock, ppm")
    system_unix: float = Field(description="the uncorrected system clock, Unix seconds")
    seconds_since_ntp: float | None = Field(description="age of the last accepted NTP sample")
    call_latency_ms: float


class ModelsInfo(BaseModel):
    requested: list[str] = Field(description="TimesFM forecasters the config enables")
    ready: bool
    error: str | None = Field(description="why the forecasters are not in use, in one line")
    weights: dict[str, float] = Field(description="current fusion weight of every predictor")


class DaemonStatusResult(BaseModel):
    status: str
    running: bool
    daemon_uptime: float
    ntp_ready: bool
    models_ready: bool
    measurement_count: int
    seconds_since_ntp: float | None
    seconds_since_update: float
    publish_rate_hz: float
    average_latency_ms: float
    servers: list[ServerDetail] | None = Field(description="per-server NTP state, when the daemon exposes it")
    models: ModelsInfo | None = Field(description="forecaster state, when the daemon exposes it")
    summary: str
    call_latency_ms: float


class FutureTimeResult(BaseModel):
    current_unix: float
    current_iso: str
    current_uncertainty_ms: float
    future_seconds: float
    future_unix: float
    future_iso: str
    future_uncertainty_ms: float
    uncertainty_increase_ms: float
    status: str
    call_latency_ms: float


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None or name == "" or name.upper() == "UTC":
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ToolFailure(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'America/New_York'"
        ) from None


def _iso(ts: float, zone: ZoneInfo | None) -> str:
    return datetime.fromtimestamp(ts, zone or UTC).isoformat(timespec="microseconds")


def _live_reading(client: ChronoTickClient, horizon: float = 0.0):
    """A reading only from a live daemon: a stale segment is an error, never a quiet old answer."""
    try:
        if not client.daemon_running():
            info = client.get_daemon_info()
            why = "stopped" if info.stopped else f"silent for {info.seconds_since_update:.1f} s"
            raise ToolFailure(f"ChronoTick daemon is not running ({why}); start chronotick-daemon")
        return client.get_future_time(horizon) if horizon else client.get_time()
    except ChronoTickError as exc:
        raise ToolFailure(str(exc)) from None


def get_time(client: ChronoTickClient, timezone: str | None = None) -> TimeResult:
    start = time.perf_counter()
    zone = _zone(timezone)
    r = _live_reading(client)
    return TimeResult(
        corrected_unix=r.corrected_timestamp,
        corrected_unix_ns=r.corrected_ns,
        iso=_iso(r.corrected_timestamp, zone),
        timezone=timezone or "UTC",
        uncertainty_ms=r.uncertainty_seconds * 1e3,
        earliest=r.earliest,
        latest=r.latest,
        status=r.status,
        source=r.source,
        confidence=r.confidence,
        offset_ms=r.offset_correction * 1e3,
        drift_ppm=r.drift_rate * 1e6,
        system_unix=r.system_timestamp,
        seconds_since_ntp=r.seconds_since_ntp,
        call_latency_ms=(time.perf_counter() - start) * 1e3,
    )


def _models(detail: DaemonDetail | None) -> ModelsInfo | None:
    if detail is None:
        return None
    m = detail.models
    return ModelsInfo(requested=m.requested, ready=m.ready, error=m.error, weights=detail.predictor_weights)


def get_daemon_status(client: ChronoTickClient) -> DaemonStatusResult:
    start = time.perf_counter()
    try:
        info = client.get_daemon_info()
    except ChronoTickError as exc:
        raise ToolFailure(str(exc)) from None
    since = info.seconds_since_ntp
    detail = client.get_daemon_detail()
    models = _models(detail)
    if models is None or not models.requested:
        model_text = "classical model"
    elif models.ready:
        model_text = "classical + TimesFM fused"
    else:
        model_text = f"classical model only (TimesFM unavailable: {models.error})"
    summary = (
        f"{info.status}: daemon {'running' if info.running else 'NOT running'}, "
        f"{info.measurement_count} NTP samples, last "
        f"{'never' if since is None else f'{since:.0f} s ago'}, publishing at {info.publish_rate_hz:.0f} Hz, "
        f"{model_text}"
    )
    return DaemonStatusResult(
        status=info.status,
        running=info.running,
        daemon_uptime=info.daemon_uptime,
        ntp_ready=info.ntp_ready,
        models_ready=info.models_ready,
        measurement_count=info.measurement_count,
        seconds_since_ntp=since,
        seconds_since_update=info.seconds_since_update,
        publish_rate_hz=info.publish_rate_hz,
        average_latency_ms=info.average_latency_ms,
        servers=None if detail is None else detail.servers,
        models=models,
        summary=summary,
        call_latency_ms=(time.perf_counter() - start) * 1e3,
    )


def get_time_with_future_uncertainty(client: ChronoTickClient, future_seconds: float) -> FutureTimeResult:
    start = time.perf_counter()
    if isinstance(future_seconds, bool) or not isinstance(future_seconds, int | float):
        raise ToolFailure("future_seconds must be a number of seconds between 0 and 3600")
    if not math.isfinite(future_seconds) or not 0 <= future_seconds <= MAX_FUTURE_SECONDS:
        raise ToolFailure(
            f"future_seconds must be between 0 and {MAX_FUTURE_SECONDS:g}, got {future_seconds}"
        )
    now = _live_reading(client)
    fut = _live_reading(client, float(future_seconds)) if future_seconds else now
    return FutureTimeResult(
        current_unix=now.corrected_timestamp,
        current_iso=_iso(now.corrected_timestamp, None),
        current_uncertainty_ms=now.uncertainty_seconds * 1e3,
        future_seconds=float(future_seconds),
        future_unix=fut.corrected_timestamp,
        future_iso=_iso(fut.corrected_timestamp, None),
        future_uncertainty_ms=fut.uncertainty_seconds * 1e3,
        uncertainty_increase_ms=(fut.uncertainty_seconds - now.uncertainty_seconds) * 1e3,
        status=now.status,
        call_latency_ms=(time.perf_counter() - start) * 1e3,
    )
