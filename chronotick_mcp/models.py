"""Every MCP tool's input model and result model, defined once. tools.py pairs each with its
function; the stdio, HTTP and SDK transports derive their schemas from these."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, model_validator

from chronotick_engine.client import MAX_FUTURE_SECONDS
from chronotick_engine.protocol.detail import ServerDetail

# Instants an answer can express: datetime's years 1 to 9999, as Unix seconds.
MIN_UNIX = -62_135_596_800.0
MAX_UNIX = 253_402_300_799.0
MAX_UNCERTAINTY_MS = 1e12  # some 30 years: anything wider says nothing


class ToolInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GetTimeInput(ToolInput):
    timezone: str | None = Field(
        default=None, description="IANA zone for iso, e.g. 'Asia/Tokyo'; default: the server's local zone"
    )


class TimeResult(BaseModel):
    corrected_unix: float = Field(description="corrected time, Unix seconds")
    corrected_unix_ns: int = Field(description="corrected time, Unix nanoseconds")
    unix_ms: int = Field(description="corrected time, Unix milliseconds")
    iso: str = Field(description="corrected time, ISO-8601 with microseconds, in `timezone`")
    timezone: str = Field(description="the zone iso is in (the server's local zone unless one was asked for)")
    day_of_week: str
    is_dst: bool
    utc_offset: str = Field(description="offset of `timezone` at this instant, e.g. '+05:45'")
    uncertainty_ms: float | None = Field(
        description="95% half-width of the interval, milliseconds; null when UNVERIFIED"
    )
    earliest: float | None = Field(
        description="lower end of the 95% interval, Unix seconds; null when UNVERIFIED"
    )
    latest: float | None = Field(
        description="upper end of the 95% interval, Unix seconds; null when UNVERIFIED"
    )
    status: str = Field(
        description="SYNCHRONIZED, FREE_RUNNING, WARMING_UP, DISRUPTED or UNKNOWN; UNVERIFIED: no estimate "
        "stands behind this reading, which is the plain system clock (see note)"
    )
    source: str = Field(
        description="what produced the estimate: classical or fused; system_clock when UNVERIFIED"
    )
    confidence: float = Field(description="recently measured share of NTP samples inside the interval")
    offset_ms: float | None = Field(description="correction added to the system clock, milliseconds")
    drift_ppm: float | None = Field(description="estimated frequency error of the local clock, ppm")
    system_unix: float = Field(description="the uncorrected system clock, Unix seconds")
    seconds_since_ntp: float | None = Field(description="age of the last accepted NTP sample")
    engine: Literal["daemon", "embedded"] = Field(
        description="what served it: a ChronoTick daemon's segment, or the engine inside this server"
    )
    note: str | None = Field(default=None, description="why the reading is UNVERIFIED, in one line")
    call_latency_ms: float


class CurrentTimeInput(ToolInput):
    timezone: str = Field(
        description="IANA zone, e.g. 'Europe/Warsaw'; the server's local zone is a good default"
    )


class CurrentTimeResult(BaseModel):
    """The official time server's get_current_time result, key for key, with the error bar beside it."""

    timezone: str
    datetime: str = Field(description="ISO-8601 to the second in `timezone`, on the corrected clock")
    day_of_week: str
    is_dst: bool
    utc_offset: str = Field(description="offset of `timezone` at this instant, e.g. '+05:45'")
    uncertainty_ms: float | None = Field(description="95% half-width, milliseconds; null when UNVERIFIED")
    earliest: float | None = Field(description="lower end of the 95% interval, Unix seconds")
    latest: float | None = Field(description="upper end of the 95% interval, Unix seconds")
    status: str = Field(description="as get_time's: SYNCHRONIZED, ..., or UNVERIFIED (see note)")
    engine: Literal["daemon", "embedded"]
    note: str | None = Field(default=None, description="why the reading is UNVERIFIED, in one line")
    call_latency_ms: float


class StatusInput(ToolInput):
    pass


class ModelsInfo(BaseModel):
    requested: list[str] = Field(description="TimesFM forecasters the config enables")
    ready: bool
    error: str | None = Field(description="why the forecasters are not in use, in one line")
    weights: dict[str, float] = Field(description="current fusion weight of every predictor")


class DaemonStatusResult(BaseModel):
    status: str = Field(
        description="SYNCHRONIZED, FREE_RUNNING, WARMING_UP, DISRUPTED, UNKNOWN, or STOPPED: the daemon "
        "stopped before its first estimate and will not get one until it is started again"
    )
    engine: Literal["daemon", "embedded"] = Field(
        description="daemon: a ChronoTick daemon's segment serves; embedded: the engine inside this server"
    )
    segment_path: str | None = Field(description="the daemon's segment, when a daemon serves")
    chrony_nts_disagreement_ms: float | None = Field(
        default=None,
        description="with chronyd as the source and NTS servers guarding it: how far apart their "
        "intervals are (0 when they agree; DISRUPTED after 3 disjoint checks)",
    )
    seconds_to_sync: float | None = Field(
        description="the embedded engine's time from start to its first SYNCHRONIZED; null until then"
    )
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


class FutureInput(ToolInput):
    future_seconds: float = Field(
        ge=0,
        le=MAX_FUTURE_SECONDS,
        allow_inf_nan=False,
        description=f"horizon in seconds, 0-{MAX_FUTURE_SECONDS:g}",
    )


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


class ConvertInput(ToolInput):
    source_timezone: str = Field(description="IANA zone the time is given in, e.g. 'America/New_York'")
    time: str = Field(
        description="'HH:MM' (24 h, today in the source zone on the corrected clock) or an ISO-8601 date-time"
    )
    target_timezone: str = Field(description="IANA zone to convert to, e.g. 'Asia/Kathmandu'")


class ZonedTime(BaseModel):
    timezone: str
    datetime: str = Field(description="ISO-8601, to the second (more when the input had more)")
    day_of_week: str
    is_dst: bool
    utc_offset: str


class Conversion(BaseModel):
    source: ZonedTime
    target: ZonedTime
    time_difference: str = Field(description="target offset minus source offset, e.g. '+5.75h'")


class ConvertResult(Conversion):
    ambiguous: bool = Field(description="the local time occurs twice (a DST fall-back): see alternatives")
    alternatives: list[Conversion] = Field(description="the later reading(s) of an ambiguous local time")
    today_from: str = Field(
        description="where 'today' came from for an HH:MM time: corrected or system clock"
    )
    call_latency_ms: float


class Interval(BaseModel):
    """A timestamp with its error bar, as get_time returns it on any node: earliest and latest, or
    corrected_unix and uncertainty_ms. Other fields are ignored, so a whole get_time result fits."""

    model_config = ConfigDict(extra="ignore")
    earliest: float | None = Field(
        default=None, ge=MIN_UNIX, le=MAX_UNIX, allow_inf_nan=False, description="Unix seconds"
    )
    latest: float | None = Field(
        default=None, ge=MIN_UNIX, le=MAX_UNIX, allow_inf_nan=False, description="Unix seconds"
    )
    corrected_unix: float | None = Field(
        default=None, ge=MIN_UNIX, le=MAX_UNIX, allow_inf_nan=False, description="Unix seconds"
    )
    uncertainty_ms: float | None = Field(
        default=None, ge=0, le=MAX_UNCERTAINTY_MS, allow_inf_nan=False, description="95% half-width"
    )

    @model_validator(mode="after")
    def _one_form(self) -> Interval:
        if self.earliest is not None or self.latest is not None:
            if self.earliest is None or self.latest is None:
                raise ValueError("give both earliest and latest")
            if self.latest < self.earliest:
                raise ValueError("latest is before earliest")
        elif self.corrected_unix is None:
            raise ValueError("give earliest and latest, or corrected_unix and uncertainty_ms")
        return self

    def bounds(self) -> tuple[float, float] | None:
        """[earliest, latest]; None for a bare corrected_unix (an UNVERIFIED reading: no error bar)."""
        if self.earliest is not None and self.latest is not None:
            return self.earliest, self.latest
        if self.corrected_unix is None or self.uncertainty_ms is None:
            return None
        half = self.uncertainty_ms / 1e3
        return self.corrected_unix - half, self.corrected_unix + half


class CompareInput(ToolInput):
    a: Interval
    b: Interval


class CompareResult(BaseModel):
    order: Literal["before", "after", "overlapping", "uncertain"] = Field(
        description="a before b, a after b, overlapping (cannot be ordered at 95%), or uncertain (one has "
        "no error bar: an UNVERIFIED reading)"
    )
    gap_ms: float | None = Field(description="space between the intervals; negative: how much they overlap")
    a: list[float] | None = Field(
        description="[earliest, latest] of a, Unix seconds; null without an error bar"
    )
    b: list[float] | None = Field(
        description="[earliest, latest] of b, Unix seconds; null without an error bar"
    )
    explanation: str
    call_latency_ms: float


class TimeUntilInput(ToolInput):
    # Strict: a JSON true must not pass for 1.0 s after the epoch.
    target: StrictStr | StrictInt | StrictFloat = Field(
        description="the instant: ISO-8601 date-time (with offset, or UTC) or Unix seconds"
    )


class TimeUntilResult(BaseModel):
    target_unix: float
    seconds: float = Field(description="target - corrected now")
    min_seconds: float | None = Field(description="target - latest: the least it can be at 95%")
    max_seconds: float | None = Field(description="target - earliest: the most it can be at 95%")
    passed: Literal["yes", "no", "uncertain"] = Field(
        description="yes only when earliest > target, no only when latest < target (TrueTime's after/before)"
    )
    status: str
    uncertainty_ms: float | None
    note: str | None = Field(
        default=None, description="why the answer is uncertain (UNVERIFIED), in one line"
    )
    call_latency_ms: float
