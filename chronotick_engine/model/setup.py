"""A clock model from a config: the estimator's settings, and the TimesFM forecasters it asks for.

Used by the daemon (forecasts on a worker thread) and by `chronotick-eval replay --config`
(forecasts inline, so a replay is deterministic). A checkpoint that cannot be loaded is reported in
one line and the model carries on classical-only.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from chronotick_engine.config import ChronoTickConfig, ModelSection
from chronotick_engine.errors import ForecastBackendError
from chronotick_engine.model.classical import ClockModel, EstimatorSettings
from chronotick_engine.model.forecaster import ForecastEngine, ForecastPredictor
from chronotick_engine.model.timesfm_backend import load_backend

log = logging.getLogger("chronotick.forecast")


@dataclass
class ForecastStatus:
    """What the daemon reports about its forecasters (status file, MCP, metrics)."""

    requested: list[str] = field(default_factory=list)
    engines: list[ForecastEngine] = field(default_factory=list)
    error: str | None = None

    @property
    def ready(self) -> bool:
        return bool(self.engines) and self.error is None

    @property
    def predictors(self) -> list[ForecastPredictor]:
        return [p for e in self.engines for p in e.predictors]

    def as_dict(self) -> dict:
        # tuple() copies a deque in one C call: the worker may append to it meanwhile.
        latencies = sorted(x * 1e3 for e in self.engines for x in tuple(e.backend.latencies_s))
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else None
        return {
            "requested": self.requested,
            "ready": self.ready,
            "error": self.error,
            "forecasts": {p.name: p.forecasts for p in self.predictors},
            "q80_coverage": {p.name: p.q80_coverage() for p in self.predictors},
            "inference_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
            "inference_ms_p99": round(p99, 1) if p99 is not None else None,
            "failures": sum(e.failures for e in self.engines),
        }

    def stop(self) -> None:
        for e in self.engines:
            e.stop()


def settings_from_config(cfg: ChronoTickConfig) -> EstimatorSettings:
    """The estimator's settings from a config: the daemon and the replay harness build their
    ClockModel from this one function, so replay figures are the daemon's."""
    e = cfg.estimator
    return EstimatorSettings(
        history=e.history,
        min_samples=e.min_samples,
        asymmetry_fraction=e.asymmetry_fraction,
        wander_ppm=e.wander_ppm,
        max_step_s=e.max_step_seconds,
        backtest_window=cfg.fusion.backtest_window,
    )


def forecast_sections(cfg: ChronoTickConfig) -> list[tuple[str, ModelSection]]:
    return [
        (n, s) for n, s in (("timesfm-short", cfg.short_term), ("timesfm-long", cfg.long_term)) if s.enabled
    ]


def build_forecasters(
    cfg: ChronoTickConfig, *, threaded: bool, on_forecast: Callable[[], None] | None = None
) -> ForecastStatus:
    """Load the enabled forecasters, one backend per distinct checkpoint (seconds: ~1 GB each)."""
    sections = forecast_sections(cfg)
    status = ForecastStatus(requested=[n for n, _ in sections])
    if not sections or not cfg.fusion.enabled:
        if sections:
            status.error = "fusion.enabled is false: TimesFM forecasters are not used"
        return status
    groups: dict[tuple[str | None, str, bool], list[tuple[str, ModelSection]]] = {}
    for name, sec in sections:
        groups.setdefault((sec.model_path, sec.device, sec.local_files_only), []).append((name, sec))
    engines = []
    try:
        for (path, device, local_only), members in groups.items():
            backend = load_backend(
                path,
                max_context=max(s.context_length for _, s in members),
                max_horizon=max(s.prediction_horizon for _, s in members),
                device=device,
                local_files_only=local_only,
                threads=cfg.performance.inference_threads,
            )
            predictors = [
                ForecastPredictor(
                    name,
                    context=s.context_length,
                    horizon=s.prediction_horizon,
                    interval_s=s.inference_interval,
                    target=s.forecast_target,
                )
                for name, s in members
            ]
            engines.append(ForecastEngine(backend, predictors, threaded=threaded, on_forecast=on_forecast))
    except ForecastBackendError as exc:
        for e in engines:
            e.stop()
        status.error = str(exc)
        log.error("%s; continuing with the classical model only", exc)
        return status
    status.engines = engines
    return status


def attach_forecasters(
    model: ClockModel,
    cfg: ChronoTickConfig,
    *,
    threaded: bool,
    on_forecast: Callable[[], None] | None = None,
) -> ForecastStatus:
    """Build the enabled forecasters and add them to `model`'s fusion."""
    status = build_forecasters(cfg, threaded=threaded, on_forecast=on_forecast)
    for e in status.engines:
        model.attach_forecasts(e)
    return status
