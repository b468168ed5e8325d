"""The predictor bank: the built-in offset forecasters that the classical model fuses.

Each is refitted from the model's History after every accepted measurement and scored by the
back-test fusion (fusion.py); none sees its own predictions as data.
"""

from __future__ import annotations

import math

import numpy as np

from chronotick_engine.model.base import History
from chronotick_engine.model.kalman import KalmanState, filter_samples, wander_density
from chronotick_engine.model.regression import LineFit, adaptive_line_fit, line_fit, weighted_median

# Frequency wander levels (ppm in an hour, 1 sigma) of the Kalman bank: a frequency that holds, a
# good crystal, a poor one in a changing room, and thermal shocks.
KALMAN_WANDER_PPM = (0.0, 0.02, 0.2, 2.0)
PRIOR_DOF = 4.0  # degrees of freedom the noise estimate counts for in a line's residual scale


class FromHistory:
    """Built-in predictors keep nothing beyond the History they are refitted from."""

    def spread(self, t: float) -> float | None:
        return None

    def reset(self) -> None:
        pass

    def local_step(self, step_s: float) -> None:
        pass


class HostClock(FromHistory):
    """Predicts a zero offset: the host's own (possibly already disciplined) clock is right.

    On a host that another NTP daemon already disciplines this is hard to beat; the back-test
    gives it weight only where it earns it, which keeps ChronoTick from ever doing worse there.
    """

    name = "host-clock"

    def refit(self, h: History) -> None:
        pass

    def predict(self, t: float) -> float:
        return 0.0

    def slope(self) -> float:
        return 0.0


class LevelMedian(FromHistory):
    """Median of the last k offsets: the best forecaster of a disciplined clock.

    Delay-weighted, it trusts the exchanges least delayed by queueing. Where delays differ because
    the servers' paths differ, not because of queueing, that weighting only favours one server's
    path bias, so the bank also holds the plain median, and the back-test picks.
    """

    def __init__(self, k: int, delay_weighted: bool = True):
        self.name = f"median-{k}" if delay_weighted else f"plain-median-{k}"
        self.k = k
        self.delay_weighted = delay_weighted
        self._level = math.nan

    def refit(self, h: History) -> None:
        y = h.offset[-self.k :]
        self._level = weighted_median(y, h.weight[-self.k :]) if self.delay_weighted else float(np.median(y))

    def predict(self, t: float) -> float:
        return self._level

    def slope(self) -> float:
        return 0.0


class Line(FromHistory):
    """Robust weighted line over the last n samples, or runs-test trimmed when adaptive."""

    def __init__(self, n: int, adaptive: bool):
        self.name = f"line-adaptive-{n}" if adaptive else f"line-{n}"
        self.n = n
        self.adaptive = adaptive
        self.fit: LineFit | None = None

    def refit(self, h: History) -> None:
        t, y, w = h.t[-self.n :], h.offset[-self.n :], h.weight[-self.n :]
        t0 = float(t[-1])
        # History weights are absolute (1 / noise variance): shrink the residual scale towards them.
        if self.adaptive:
            self.fit = adaptive_line_fit(t, y, w, t0, prior_dof=PRIOR_DOF)
        else:
            self.fit = line_fit(t, y, w, t0, prior_dof=PRIOR_DOF)

    def predict(self, t: float) -> float:
        return self.fit.predict(t) if self.fit else math.nan

    def slope(self) -> float:
        return self.fit.slope if self.fit else 0.0


class Kalman:
    """Offset-and-frequency Kalman filter at one wander level, anchored (kalman.py): the window is
    refiltered with its current weights, older samples live on in the anchor."""

    def __init__(self, wander_ppm: float, window: int):
        self.name = f"kalman-{wander_ppm:g}ppm"
        self.q = wander_density(wander_ppm)
        self.window = window
        self.reset()

    def reset(self) -> None:
        self._anchor: KalmanState | None = None
        self._window: tuple[list[float], list[float], list[float]] = ([], [], [])
        self.state: KalmanState | None = None

    def local_step(self, step_s: float) -> None:
        if self._anchor is not None:
            self._anchor = self._anchor.shifted(step_s)
        t, y, r = self._window
        self._window = (t, [v - step_s for v in y], r)

    def refit(self, h: History) -> None:
        t, y, r = h.t.tolist(), h.offset.tolist(), (1.0 / h.weight).tolist()
        old_t, old_y, old_r = self._window
        # Only a full window slides; a shorter one changed because warm-up dropped an outlier.
        if len(old_t) >= self.window and t:
            gone = sum(1 for x in old_t if x < t[0])
            self._anchor = filter_samples(self._anchor, old_t[:gone], old_y[:gone], old_r[:gone], self.q)
        self._window = (t, y, r)
        self.state = filter_samples(self._anchor, t, y, r, self.q)

    def predict(self, t: float) -> float:
        return self.state.predict(t) if self.state else math.nan

    def slope(self) -> float:
        return self.state.frequency if self.state else 0.0

    def spread(self, t: float) -> float | None:
        return None
