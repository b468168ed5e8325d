"""The get_daemon_status tool: which engine serves, its health, each server's state, and a summary
that names the first reason the time is not synchronised."""

from __future__ import annotations

import time

from chronotick_engine import ChronoTickError
from chronotick_engine.embedded import Served
from chronotick_engine.protocol.detail import DaemonDetail, without_schedule
from chronotick_mcp.clock import ToolContext, ToolFailure, elapsed_ms, why_unsynchronised
from chronotick_mcp.models import DaemonStatusResult, ModelsInfo, StatusInput


def _models(detail: DaemonDetail | None) -> ModelsInfo | None:
    if detail is None:
        return None
    m = detail.models
    return ModelsInfo(requested=m.requested, ready=m.ready, error=m.error, weights=detail.predictor_weights)


def _guard_gap_ms(detail: DaemonDetail | None) -> float | None:
    guard = detail.chrony.nts_guard if detail is not None and detail.chrony is not None else None
    return None if guard is None else guard.disagreement_ms


def _nts_text(detail: DaemonDetail | None) -> str:
    """', NTS: 2 of 3 servers authenticated' (with the first failing server's reason), or ''."""
    nts = [s for s in detail.servers if s.nts] if detail is not None else []
    if not nts:
        return ""
    good = [s for s in nts if s.authenticated and s.reach != "000"]
    text = f", NTS: {len(good)} of {len(nts)} servers authenticated"
    bad = next((s for s in nts if s not in good and s.last_error), None)
    return text + (f" ({bad.server}: {bad.last_error})" if bad is not None else "")


def _engine_text(served: Served, running: bool) -> str:
    eng = served.embedded
    if eng is None:
        return f"daemon {'running' if running else 'NOT running'} at {served.client.shm_path}"
    synced = eng.seconds_to_sync()
    when = "not yet synchronised" if synced is None else f"synchronised {synced:.1f} s after start"
    return f"embedded engine ({'running' if running else 'NOT running'}, no daemon in use; {when})"


def get_daemon_status(ctx: ToolContext, args: StatusInput) -> DaemonStatusResult:
    start = time.perf_counter()
    served = ctx.clock.serve()
    try:
        info = served.client.get_daemon_info()
    except ChronoTickError as exc:
        raise ToolFailure(str(exc)) from None
    since = info.seconds_since_ntp
    detail = served.client.get_daemon_detail()
    models = _models(detail)
    if models is None or not models.requested:
        model_text = "classical model"
    elif models.ready:
        model_text = "classical + TimesFM fused"
    else:
        model_text = f"classical model only (TimesFM unavailable: {models.error})"
    cause = "" if info.status == "SYNCHRONIZED" else f" ({why_unsynchronised(served, detail)})"
    # A stopped daemon publishes nothing and schedules nothing: say neither.
    rate = f"publishing at {info.publish_rate_hz:.0f} Hz, " if info.running else ""
    summary = (
        f"{info.status}: {_engine_text(served, info.running)}, "
        f"{info.measurement_count} NTP samples, last "
        f"{'never' if since is None else f'{since:.0f} s ago'}, {rate}"
        f"{model_text}{_nts_text(detail)}{cause}"
    )
    if not info.running:
        summary = without_schedule(summary)
    return DaemonStatusResult(
        status=info.status,
        engine=served.engine,
        segment_path=served.client.shm_path if served.embedded is None else None,
        chrony_nts_disagreement_ms=_guard_gap_ms(detail),
        seconds_to_sync=None if served.embedded is None else served.embedded.seconds_to_sync(),
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
        call_latency_ms=elapsed_ms(start),
    )
