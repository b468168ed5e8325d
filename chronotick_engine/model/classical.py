"""The classical clock model (chrony's `reference` to regression.py's `sourcestats`).

It keeps the recent accepted measurements, gates outliers and confirmed steps, runs the predictor
bank of predictors.py (the host clock, level medians, a short line, a runs-test-trimmed long line
and anchored Kalman filters at several frequency-wander levels), fuses them by their
back-tested errors (fusion.py), and publishes offset, drift and a calibrated 95% interval.
Extra predictors (TimesFM) join the same fusion through `add_predictor`.

It never sees its own predictions as data: only measurements enter the history.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from chronotick_engine.measure.measurement import Measurement
from chronotick_engine.model.base import ClockEstimate, ForecastSource, History, Predictor
from chronotick_engine.model.fusion import BacktestFusion
from chronotick_engine.model.kalman import MAX_FREQUENCY_ERROR
from chronotick_engine.model.predictors import KALMAN_WANDER_PPM, HostClock, Kalman, LevelMedian, Line
from chronotick_engine.model.regression import LineFit, robust_scale

log = logging.getLogger(__name__)

# Two-sided 95% Student-t quantiles by degrees of freedom, for intervals from few samples.
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23}


def t95(dof: int) -> float:
    if dof <= 0:
        return _T95[1]
    if dof in _T95:
        return _T95[dof]
    return 1.96 + 2.6 / dof  # within 1% of the t quantile beyond 10 degrees of freedom


# Back-test names of the two fused predictors (classical predictors only, and with forecasters) and
# of the inverse-MSE mixtures each of them may choose.
FUSED_CLASSICAL = "fused:classical"
FUSED_ALL = "fused:all"
MIXTURE_CLASSICAL = "mixture:classical"
MIXTURE_ALL = "mixture:all"
FORECAST_MARGIN = 0.9  # forecasters must cut the back-tested squared error by 10% to be used


@dataclass(frozen=True)
class EstimatorSettings:
    history: int = 64
    min_samples: int = 4
    asymmetry_fraction: float = 0.5
    wander_ppm: float = 1.0
    gate_k: float = 3.0
    gate_floor_s: float = 20e-6
    step_confirmations: int = 3
    max_step_s: float = 1.0
    noise_floor_s: float = 1e-6
    backtest_window: int = 128


class ClockModel:
    """Measurements in, ClockEstimate out."""

    def __init__(self, settings: EstimatorSettings | None = None):
        self.settings = settings or EstimatorSettings()
        self._reference = Line(self.settings.history, adaptive=True)
        self._predictors: list[Predictor] = [
            HostClock(),
            LevelMedian(8),
            LevelMedian(32),
            LevelMedian(8, delay_weighted=False),
            LevelMedian(32, delay_weighted=False),
            Line(16, adaptive=False),
            self._reference,
            *(Kalman(q, self.settings.history) for q in KALMAN_WANDER_PPM),
        ]
        self.fusion = BacktestFusion(window=self.settings.backtest_window)
        self._engines: list[ForecastSource] = []
        self._samples: deque[Measurement] = deque(maxlen=self.settings.history)
        self._suspects: list[Measurement] = []
        self._weights: dict[str, float] = {self._reference.name: 1.0}
        self._weights_classical = self._weights_all = self._weights
        self._mixtures: dict[str, dict[str, float]] = {}
        self.estimate: ClockEstimate | None = None
        self.accepted = 0
        self.rejected = 0
        self.steps = 0

    # composition ---------------------------------------------------------------------------------

    def add_predictor(self, predictor: Predictor) -> None:
        self._predictors.append(predictor)
        if self._samples:
            predictor.refit(self._history())

    def attach_forecasts(self, engine: ForecastSource) -> None:
        """Add an engine's forecasters to the fusion; the engine is told of every refit."""
        for p in engine.predictors:
            self.add_predictor(p)
        self._engines.append(engine)

    def refresh(self) -> None:
        """Rebuild the estimate from the predictors' current state (a forecast just arrived)."""
        if self._samples:
            self.estimate = self._build_estimate(self._history())

    @property
    def weights(self) -> dict[str, float]:
        return dict(self._weights)

    # state ---------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything (after a detected step of the local clock)."""
        self._samples.clear()
        self._suspects.clear()
        self.fusion.reset()
        for p in self._predictors:
            p.reset()
        self._weights = {self._reference.name: 1.0}
        self._weights_classical = self._weights_all = self._weights
        self._mixtures = {}
        self.estimate = None

    def local_step(self, step_s: float) -> None:
        """The local system clock was stepped by step_s: every past offset shifts by -step_s.

        The daemon sees this directly (realtime vs monotonic), so the history is kept, re-expressed
        against the new local time, rather than thrown away.
        """
        shifted = [Measurement(m.t, m.offset - step_s, m.delay) for m in self._samples]
        self.fusion.forget(HostClock.name)  # the host clock's record no longer describes it
        for p in self._predictors:
            p.local_step(step_s)
        self._samples.clear()
        self._samples.extend(shifted)
        self._suspects.clear()
        if self._samples:
            self._refit()

    def _history(self) -> History:
        t = np.fromiter((m.t for m in self._samples), float)
        y = np.fromiter((m.offset for m in self._samples), float)
        d = np.fromiter((m.delay for m in self._samples), float)
        noise = 1e-3
        if y.size > 2:
            dy = np.diff(y)
            scale = robust_scale(dy)
            if y.size <= 8:
                # A median absolute deviation of so few differences is often near zero (of three,
                # one deviation is zero by construction); samples that happen to line up would then
                # make a line look certain. Their standard deviation is the honest scale here, and
                # the cap below still keeps a delay spike among them from inflating it.
                scale = max(scale, float(np.std(dy, ddof=1)))
            noise = max(self.settings.noise_floor_s, scale / math.sqrt(2))
        if d.min() > 0:
            # An exchange is off by at most half its delay, so the best one bounds the noise; from
            # three samples, one of them a delay spike, the scale of differences would not.
            noise = min(noise, max(self.settings.noise_floor_s, float(d.min()) / 2.0))
        # Queueing beyond the best path's delay can bias an offset by up to half the excess.
        excess = np.maximum(0.0, d - d.min()) / 2.0
        return History(t, y, d, 1.0 / (noise**2 + excess**2))

    def fused_prediction(self, t: float) -> float | None:
        if not self._samples:
            return None
        return self._combine(t)

    def _combine(self, t: float, weights: dict[str, float] | None = None) -> float:
        """The weighted mean of the predictors' forecasts at t, over those that have one."""
        total = acc = 0.0
        for name, w in (self._weights if weights is None else weights).items():
            pred = self._by_name(name).predict(t)
            if math.isfinite(pred):
                acc += w * pred
                total += w
        return acc / total if total > 0 else self._reference.predict(t)

    def _by_name(self, name: str) -> Predictor:
        for p in self._predictors:
            if p.name == name:
                return p
        raise KeyError(name)

    # feeding ---------------------------------------------------------------------------------------

    def update(self, m: Measurement) -> str:
        """Feed one measurement; returns 'accepted', 'outlier' or 'step'."""
        if not all(map(math.isfinite, (m.t, m.offset, m.delay))):
            self.rejected += 1
            return "outlier"
        est = self.estimate
        if est is not None and len(self._samples) >= self.settings.min_samples:
            verdict = self._gate(m, est)
            if verdict != "accepted":
                return verdict
        elif self._samples and self._warmup_outlier(m):
            self.rejected += 1
            return "outlier"
        # Forecasts made while warming up come from one to three samples; scored, a delay spike
        # among those would set the weights and the interval long after the model stops being that
        # ignorant.
        if est is not None and len(self._samples) >= self.settings.min_samples:
            preds = {p.name: p.predict(m.t) for p in self._predictors}
            for name, weights in self._mixtures.items():
                preds[name] = self._combine(m.t, weights)
            if self._engines:
                preds[FUSED_CLASSICAL] = self._combine(m.t, self._weights_classical)
                preds[FUSED_ALL] = self._combine(m.t, self._weights_all)
            self.fusion.record(preds, m.offset)
            fused = est.offset_at(m.t)
            growth = (est.drift_unc + est.max_drift_rate) * abs(m.t - est.anchor_t)
            self.fusion.record_fused(m.offset - fused, growth, est.halfwidth_at(m.t))
        self._samples.append(m)
        self.accepted += 1
        self._refit()
        return "accepted"

    def _gate(self, m: Measurement, est: ClockEstimate) -> str:
        s = self.settings
        d_min = min(x.delay for x in self._samples)
        noise = self.fusion.conformal_halfwidth() or (est.offset_unc_s - self._asymmetry_allowance())
        # The sample's own excess delay is deliberately not added: a delay spike is exactly the
        # exchange whose offset is biased by up to half that excess, and it must not pass.
        threshold = s.gate_k * max(noise, s.gate_floor_s, d_min / 20.0) + (
            est.drift_unc + est.max_drift_rate
        ) * abs(m.t - est.anchor_t)
        innovation = m.offset - est.offset_at(m.t)
        if abs(innovation) <= threshold:
            self._suspects.clear()
            return "accepted"
        self.rejected += 1
        if abs(innovation) <= threshold + max(0.0, m.delay - d_min) / 2.0:
            # Its own extra delay explains the disagreement (an exchange is off by at most half its
            # excess delay: queueing, or a starved host time-stamping late). That is no evidence of
            # a step of the reference, however many such samples come in a row.
            return "outlier"
        self._suspects.append(m)
        if len(self._suspects) < s.step_confirmations:
            return "outlier"
        offsets = np.array([x.offset - est.offset_at(x.t) for x in self._suspects])
        consistent = float(offsets.max() - offsets.min()) <= 2.0 * threshold and (
            np.all(offsets > 0) or np.all(offsets < 0)
        )
        step = float(np.median(offsets))
        if not consistent:
            self._suspects.pop(0)
            return "outlier"
        if abs(step) > s.max_step_s:
            log.error("refusing a %.6f s step of the reference (max_step_s=%g)", step, s.max_step_s)
            self._suspects.pop(0)
            return "outlier"
        log.warning("accepting a %.6f s step of the reference after %d confirmations", step, len(offsets))
        suspects = list(self._suspects)
        self.reset()
        self.steps += 1
        for x in suspects:
            self._samples.append(x)
        self.accepted += len(suspects)
        self._refit()
        return "step"

    def _warmup_outlier(self, m: Measurement) -> bool:
        """Before the model can gate: drop whatever disagrees with the majority by far more than
        the exchanges' own error bounds (a falseticker among the first samples)."""
        pool = [*self._samples, m]
        if len(pool) < 3:
            return False
        offsets = np.array([x.offset for x in pool])
        med = float(np.median(offsets))
        bound = 10 * robust_scale(offsets) + max(x.delay for x in pool) / 2 + 1e-3
        keep = [x for x in self._samples if abs(x.offset - med) <= bound]
        if len(keep) < len(self._samples):
            self.rejected += len(self._samples) - len(keep)
            self._samples.clear()
            self._samples.extend(keep)
            if keep:
                self._refit()
            else:
                self.estimate = None
        return abs(m.offset - med) > bound

    # estimation ------------------------------------------------------------------------------------

    def _asymmetry_allowance(self) -> float:
        """Path asymmetry shifts every sample by an unseen constant of at most delay/2 on the best
        path; the interval carries a documented fraction of it."""
        recent = list(self._samples)[-16:]
        return self.settings.asymmetry_fraction * min(x.delay for x in recent) / 2.0 if recent else 0.0

    def _refit(self) -> None:
        h = self._history()
        for p in self._predictors:
            p.refit(h)
        ref = self._reference.fit
        for engine in self._engines:
            if ref is not None:
                for p in engine.predictors:
                    p.set_reference(ref)
            engine.notify()
        self.estimate = self._build_estimate(h)

    def _build_estimate(self, h: History) -> ClockEstimate:
        s = self.settings
        t_a = float(h.t[-1])
        self._weights = self._choose_weights(h)
        offset = self._combine(t_a)
        ref = self._reference.fit
        assert ref is not None
        # Frequency is a property of the longest stretch that still fits a line (chrony's choice);
        # short or level predictors sharpen the offset but know nothing of the frequency.
        drift = ref.slope
        z = t95(ref.n - 2)
        slope_se = math.sqrt(ref.var_slope) if math.isfinite(ref.var_slope) else 0.0
        drift_unc = z * slope_se
        if ref.n < s.min_samples or not math.isfinite(ref.var_slope):
            drift_unc = max(drift_unc, MAX_FREQUENCY_ERROR)  # no frequency knowledge yet
        conformal = self.fusion.conformal_halfwidth()
        if conformal is None:
            conformal = self._parametric_halfwidth(h, ref, z)
        offset_unc = max(conformal, s.noise_floor_s) + self._asymmetry_allowance()
        coverage = self.fusion.empirical_coverage()
        return ClockEstimate(
            anchor_t=t_a,
            offset_s=offset,
            drift=drift,
            offset_unc_s=offset_unc,
            drift_unc=drift_unc,
            max_drift_rate=s.wander_ppm * 1e-6,
            confidence=coverage if coverage is not None else 0.5,
            samples=h.size,
            fused=any(w > 0 for n, w in self._weights.items() if n.startswith("timesfm")),
        )

    def _fuse(
        self, names: list[str], mixture_name: str, floors: dict[str, float] | None = None
    ) -> dict[str, float]:
        """Posterior weights over `names` and their inverse-MSE mixture, which is kept so that its
        forecast is scored with the predictors' on the next measurement.

        The Kalman filters are candidates of the posterior but stay out of the mixture: they are
        one model at several wander levels, and the mixture is there to average different models.
        """
        ref = self._reference.name
        mixed = [n for n in names if not isinstance(self._by_name(n), Kalman)]
        mixture = self.fusion.inverse_mse_weights(mixed, ref, floors)
        self._mixtures[mixture_name] = mixture
        return self.fusion.posterior_weights(names, ref, (mixture_name, mixture), floors)

    def _choose_weights(self, h: History) -> dict[str, float]:
        """Posterior weights (fusion.py); forecasters join only while the fusion with them has
        back-tested clearly better than the fusion without them (a margin, so that noise in the
        back-test does not make the fusion flap), so a forecaster that does not help costs at
        most the few samples it takes the back-test to notice."""
        names = [p.name for p in self._predictors]
        forecasters = {p.name for e in self._engines for p in e.predictors}
        self._weights_classical = self._fuse([n for n in names if n not in forecasters], MIXTURE_CLASSICAL)
        if not forecasters:
            return self._weights_classical
        t_next = float(h.t[-1]) + (float(np.median(np.diff(h.t))) if h.size > 1 else 0.0)
        floors = {p.name: sp**2 for p in self._predictors if (sp := p.spread(t_next)) is not None}
        self._weights_all = self._fuse(names, MIXTURE_ALL, floors)
        scored = self.fusion.mse([FUSED_ALL, FUSED_CLASSICAL])
        with_f, without = scored.get(FUSED_ALL), scored.get(FUSED_CLASSICAL)
        helps = with_f is not None and without is not None and with_f <= FORECAST_MARGIN * without
        return self._weights_all if helps else self._weights_classical

    @staticmethod
    def _parametric_halfwidth(h: History, ref: LineFit, z: float) -> float:
        """Before the back-test has enough errors: Student-t prediction interval of the line fit,
        or, from fewer than three samples, the exchanges' own error bound plus a millisecond."""
        if ref.n < 3 or not (math.isfinite(ref.resid_scale) and math.isfinite(ref.var_offset)):
            return float(h.delay.max()) / 2.0 + 1e-3
        spacing = float(np.median(np.diff(h.t)))
        return z * math.sqrt(ref.resid_scale**2 + ref.predict_var(float(h.t[-1]) + spacing))

    @property
    def sample_count(self) -> int:
        return len(self._samples)
