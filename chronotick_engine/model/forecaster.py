"""TimesFM forecasters as predictors of the clock model's back-test fusion.

What a forecaster sees: only accepted measurements, never a prediction (the prototype fed its own
forecasts back and ran away). What it forecasts: the residual of the offset series against the
classical reference line at forecast time, so the line carries the frequency and the model only
the structure a line misses (`target: offset` forecasts the raw series instead; see the README's
replay figures for the comparison).

Resampling: the accepted measurements are put on a uniform grid whose step is the median spacing
of the buffered samples (the measurement interval), by linear interpolation, newest point last.
Context and horizon are counted in steps of that grid.

Scheduling: a ForecastEngine runs every due forecaster in one batched backend call, either inline
(replay: deterministic) or on a worker thread (daemon: never on the publish path).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from chronotick_engine.errors import ForecastBackendError
from chronotick_engine.model.base import History
from chronotick_engine.model.regression import LineFit
from chronotick_engine.model.timesfm_backend import Forecast, TimesFMBackend

log = logging.getLogger("chronotick.forecast")

WORKER_NICENESS = 10  # the forecast thread's niceness relative to the publish loop
MIN_CONTEXT = 16  # grid points before a forecaster forecasts at all
SIGMA_PER_Q80 = 2.0 * 1.2816  # (q0.9 - q0.1) of a normal distribution, in sigmas

Target = Literal["residual", "offset"]


@dataclass(frozen=True, slots=True)
class _Basis:
    """What a forecast is anchored to: the grid and the line its residuals are taken against."""

    t_last: float
    step: float
    line: LineFit | None  # None for the offset target, which forecasts the series itself


def resample(t: np.ndarray, y: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(grid times, values on the grid, grid step), newest last; None when too short."""
    if t.size < 2:
        return None
    step = float(np.median(np.diff(t)))
    if not step > 0:
        return None
    n = min(context, int((t[-1] - t[0]) / step) + 1)
    if n < MIN_CONTEXT:
        return None
    grid = t[-1] - step * np.arange(n - 1, -1, -1)
    return grid, np.interp(grid, t, y), step


class ForecastPredictor:
    """One TimesFM forecaster (short- or long-term) behind the Predictor interface."""

    def __init__(
        self, name: str, *, context: int, horizon: int, interval_s: float, target: Target = "residual"
    ):
        self.name = name
        self.context = context
        self.horizon = horizon
        self.interval_s = interval_s
        self.target = target
        self._t: deque[float] = deque(maxlen=context * 2)
        self._y: deque[float] = deque(maxlen=context * 2)
        self._line: LineFit | None = None  # the classical reference line, latest
        self._lock = threading.Lock()
        self._forecast: Forecast | None = None
        self._basis: _Basis | None = None
        self._last_run_t = -math.inf
        self._pending = False
        self.forecasts = 0
        self.interval_hits: deque[bool] = deque(maxlen=256)

    # feeding (called by the clock model, under its lock; must be cheap) ----------------------------

    def refit(self, h: History) -> None:
        if h.size == 0:
            return
        last = self._t[-1] if self._t else -math.inf
        fresh = [(float(t), float(y)) for t, y in zip(h.t, h.offset, strict=True) if t > last]
        for t, y in fresh:
            self._score_interval(t, y)
        with self._lock:
            for t, y in fresh:
                self._t.append(t)
                self._y.append(y)
            if fresh:
                self._pending = True

    def set_reference(self, line: LineFit) -> None:
        with self._lock:
            self._line = line

    def reset(self) -> None:
        with self._lock:
            self._t.clear()
            self._y.clear()
            self._forecast = None
            self._basis = None
            self._pending = False
            self._last_run_t = -math.inf

    def local_step(self, step_s: float) -> None:
        """The local clock stepped: every stored offset, and the forecast, shift by -step_s."""
        with self._lock:
            shifted = [y - step_s for y in self._y]
            self._y.clear()
            self._y.extend(shifted)
            b = self._basis
            if b is not None:
                if b.line is None:
                    self._forecast = _shift(self._forecast, -step_s)
                else:
                    self._basis = replace(b, line=replace(b.line, offset=b.line.offset - step_s))

    # scheduling -----------------------------------------------------------------------------------

    def due(self) -> bool:
        return self._pending and bool(self._t) and self._t[-1] - self._last_run_t >= self.interval_s

    def prepare(self) -> tuple[np.ndarray, _Basis] | None:
        """The series to forecast now, or None when there is too little of it."""
        with self._lock:
            t = np.fromiter(self._t, float)
            y = np.fromiter(self._y, float)
            line = self._line
            self._pending = False
            self._last_run_t = float(t[-1]) if t.size else self._last_run_t
        r = resample(t, y, self.context)
        if r is None:
            return None
        grid, values, step = r
        if self.target == "offset" or line is None:
            return values, _Basis(float(grid[-1]), step, None)
        return values - (line.offset + line.slope * (grid - line.t0)), _Basis(float(grid[-1]), step, line)

    def accept(self, forecast: Forecast, basis: _Basis) -> None:
        with self._lock:
            self._forecast = Forecast(
                forecast.point[: self.horizon], forecast.q10[: self.horizon], forecast.q90[: self.horizon]
            )
            self._basis = basis
            self.forecasts += 1

    # prediction -----------------------------------------------------------------------------------

    def _at(self, t: float) -> tuple[float, float, float] | None:
        """(point, q10, q90) of the offset at t, from the latest forecast."""
        with self._lock:
            f, b = self._forecast, self._basis
        if f is None or b is None:
            return None
        # Grid steps after the last observed point. Before step 1 the model's own first step stands,
        # not the last observation: the estimate must be the model's view, not one noisy sample.
        k = (t - b.t_last) / b.step
        steps = np.arange(1, f.point.size + 1, dtype=float)
        point = float(np.interp(k, steps, f.point))
        q10 = float(np.interp(k, steps, f.q10))
        q90 = float(np.interp(k, steps, f.q90))
        base = b.line.predict(t) if b.line is not None else 0.0
        return base + point, base + q10, base + q90

    def predict(self, t: float) -> float:
        r = self._at(t)
        return r[0] if r else math.nan

    def slope(self) -> float:
        return self._line.slope if self._line is not None else 0.0

    def spread(self, t: float) -> float | None:
        """The model's own 1-sigma spread at t, from its q0.1 / q0.9 quantiles."""
        r = self._at(t)
        return (r[2] - r[1]) / SIGMA_PER_Q80 if r else None

    def _score_interval(self, t: float, y: float) -> None:
        r = self._at(t)
        if r is not None:
            self.interval_hits.append(r[1] <= y <= r[2])

    def q80_coverage(self) -> float | None:
        """Share of new measurements inside the model's own 80% interval (nominal 0.80)."""
        return sum(self.interval_hits) / len(self.interval_hits) if self.interval_hits else None


def _shift(f: Forecast | None, d: float) -> Forecast | None:
    return None if f is None else Forecast(f.point + d, f.q10 + d, f.q90 + d)


class ForecastEngine:
    """Runs the due forecasters of one backend, batched, inline or on a worker thread."""

    def __init__(
        self,
        backend: TimesFMBackend,
        predictors: list[ForecastPredictor],
        *,
        threaded: bool,
        on_forecast: Callable[[], None] | None = None,
    ):
        self.backend = backend
        self.predictors = predictors
        self.threaded = threaded
        self.on_forecast = on_forecast
        self.failures = 0
        self.last_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._loop, name="forecast", daemon=True)
            self._thread.start()

    def notify(self) -> None:
        """New measurements arrived: forecast now (inline) or wake the worker."""
        if self.threaded:
            self._wake.set()
        else:
            self.run_due()

    def run_due(self) -> int:
        due = [p for p in self.predictors if p.due()]
        jobs = [(p, prepared) for p in due if (prepared := p.prepare()) is not None]
        if not jobs:
            return 0
        horizon = max(p.horizon for p, _ in jobs)
        try:
            results = self.backend.forecast([series for _, (series, _) in jobs], horizon)
        except ForecastBackendError as exc:
            self.failures += 1
            if self.last_error != str(exc):
                log.error("%s", exc)
            self.last_error = str(exc)
            return 0
        for (p, (_, basis)), forecast in zip(jobs, results, strict=True):
            p.accept(forecast, basis)
        if self.on_forecast is not None:
            self.on_forecast()
        return len(jobs)

    def _loop(self) -> None:
        # Inference competes with the publish loop for the CPU: give this thread a lower share so
        # the scheduler lets the 100 Hz tick in promptly (Linux niceness is per thread).
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.run_due()
            except Exception:  # a forecasting bug must not take the daemon down
                self.failures += 1
                log.exception("forecast worker failed")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
