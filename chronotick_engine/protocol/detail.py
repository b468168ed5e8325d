"""The status sidecar (`<segment>.json`): the daemon's per-server, publish and forecaster detail.

The 128-byte segment has no room for it. The daemon writes it once per measurement round, whole,
by rename; the client, `chronotick-client status`, the MCP status tool and the metrics read it back
through these models. It is informational: the segment stays the source of truth for the time and
the status. docs/PROTOCOL.md ("The status sidecar") documents every key.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chronotick_engine.protocol.paths import detail_path
from chronotick_engine.shared_files import open_existing


class _Detail(BaseModel):
    # Extra keys are ignored, so that a newer daemon's sidecar still reads in an older client.
    model_config = ConfigDict(extra="ignore", frozen=True)


_SCHEDULE = re.compile(r" \(next key exchange in [^)]*\)")


def without_schedule(text: str) -> str:
    """Text quoting servers' errors, without their retry schedules: what to show once the daemon
    has stopped and will retry nothing."""
    return _SCHEDULE.sub("", text)


class ServerDetail(_Detail):
    """One configured NTP server, as the daemon sees it."""

    server: str = Field(description="host:port as configured (an NTS entry without a port: its host)")
    reach: str = Field(description="8-bit reachability register of the last polls, in octal (377 = all)")
    polls: int
    accepted: int = Field(description="replies that passed every check")
    selected: int = Field(description="rounds in which selection kept this server")
    last_offset_ms: float | None
    last_delay_ms: float | None
    jitter_ms: float
    rejects: dict[str, int] = Field(description="rejected replies and failed polls, by reason")
    last_error: str | None = Field(description="the latest failure, one line; None after a success")
    nts: bool = Field(default=False, description="configured to be measured with NTS only")
    authenticated: bool = Field(
        default=False, description="the last accepted reply passed NTS (RFC 8915) verification"
    )
    timestamping: str | None = Field(
        default=None,
        description="how the last accepted exchange was stamped: kernel (both datagrams), kernel-rx "
        "(the reply only), or user (after recv() returned)",
    )
    nts_cookies: int | None = Field(default=None, description="NTS cookies on hand (at most 8)")
    nts_key_exchanges: int | None = Field(default=None, description="successful NTS-KE sessions so far")
    nts_last_ke_unix_s: float | None = Field(default=None, description="when the last NTS-KE succeeded")
    nts_last_ke_ms: float | None = Field(default=None, description="how long that key exchange took")
    ntp_address: str | None = Field(
        default=None, description="host:port NTS-protected NTP goes to, as the key exchange said"
    )


class PublishDetail(_Detail):
    count: int
    rate_hz: float
    latency_ms: float = Field(description="mean time to build and publish one snapshot")
    period_error_p99_ms: float | None = Field(description="p99 |actual - nominal| period, last 1024 ticks")
    writer: Literal["c", "python"] = Field(
        default="python", description="who publishes the ticks: the C heartbeat thread, or Python"
    )
    scheduling: str | None = Field(
        default=None, description="the C heartbeat thread's scheduling: SCHED_FIFO N, or normal and why"
    )


class ModelsDetail(_Detail):
    """The optional TimesFM forecasters."""

    requested: list[str] = Field(default_factory=list, description="forecasters the config enables")
    ready: bool = False
    error: str | None = Field(default=None, description="why they are not in use, one line")
    forecasts: dict[str, int] = Field(default_factory=dict)
    q80_coverage: dict[str, float | None] = Field(default_factory=dict)
    inference_ms_p50: float | None = None
    inference_ms_p99: float | None = None
    failures: int = 0


class NtsGuardDetail(_Detail):
    """chronyd's hard interval against the NTS-authenticated one (docs/SECURITY.md, "The NTS guard")."""

    disrupted: bool
    disagreeing_checks: int = Field(description="consecutive checks in which the intervals were disjoint")
    disagreement_ms: float | None = Field(
        description="the gap between the two intervals; 0 when they overlap"
    )
    chrony_interval_ms: tuple[float, float] | None = Field(description="chronyd's, true - system time")
    nts_interval_ms: tuple[float, float] | None = Field(description="the NTS servers', true - system time")


class ChronyDetail(_Detail):
    """The host's chronyd, when it is the source (clock_measurement.chrony)."""

    socket: str
    reference: str | None
    stratum: int | None
    leap: str | None
    correction_ms: float | None = Field(description="chronyd's remaining correction: true - system time")
    root_delay_ms: float | None
    root_dispersion_ms: float | None
    skew_ppm: float | None
    reference_age_s: float | None = Field(description="seconds since chronyd last updated the clock")
    problem: str | None = Field(description="why chronyd's time is not served as SYNCHRONIZED, one line")
    nts_guard: NtsGuardDetail | None


class DaemonDetail(_Detail):
    pid: int
    status: str = Field(description="the daemon's own status when it wrote the file")
    uptime_s: float
    samples_accepted: int
    samples_rejected: int
    steps_accepted: int
    measurement_interval_s: float
    predictor_weights: dict[str, float]
    offset_ms: float | None
    drift_ppm: float | None
    uncertainty_ms: float | None
    hard_interval_ms: tuple[float, float] | None = Field(
        default=None,
        description="worst-case [lo, hi] of true time - CLOCK_REALTIME now, ms (holds the 95% interval)",
    )
    hard_bound_ms: float | None = Field(
        default=None, description="ClockBound's bound: max(|lo|, |hi|) of hard_interval_ms, ms"
    )
    publish: PublishDetail
    servers: list[ServerDetail]
    models: ModelsDetail
    chrony: ChronyDetail | None = None


MAX_DETAIL_BYTES = 64 * 1024  # a sidecar with 64 servers is under 32 KiB


def read_detail(segment_path: str, owner_uid: int | None = None) -> DaemonDetail | None:
    """The sidecar beside `segment_path`; None when it is absent, unreadable, not of this shape, or
    not to be trusted: not a regular file, a link, over MAX_DETAIL_BYTES, writable by others than
    its owner, or (given `owner_uid`, the segment's owner) written by anyone else. Never blocks."""
    path = detail_path(segment_path)
    try:
        fd = open_existing(path, os.O_RDONLY, "status file")
    except OSError:
        return None
    try:
        if owner_uid is not None and os.fstat(fd).st_uid != owner_uid:
            return None
        data = os.read(fd, MAX_DETAIL_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > MAX_DETAIL_BYTES:
        return None
    try:
        return DaemonDetail.model_validate_json(data)
    except (ValueError, ValidationError, RecursionError):
        return None
