"""Inverse-variance fusion of offset predictors, with variances measured by an online back-test.

Every predictor's forecast of each new measurement is scored before that measurement is used, so a
predictor's weight is 1 / (its measured recent mean squared error), never its self-reported spread.
A predictor that forecasts badly gets a weight near zero: adding one can only cost a little.

The fused predictor's own one-step errors give a conformal 95% half-width: the empirical quantile of
recent errors, which holds its coverage whatever the noise distribution is.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

import numpy as np

MIN_SCORED = 4  # back-test errors needed before a predictor's weight is trusted


class BacktestFusion:
    def __init__(self, window: int = 32, coverage: float = 0.95, score_window: int = 128):
        self.window = window
        self.coverage = coverage
        self._sq_errors: dict[str, deque[float]] = {}
        self._scores: deque[float] = deque(maxlen=score_window)
        self._hits: deque[bool] = deque(maxlen=score_window)

    # scoring -------------------------------------------------------------------------------------

    def record(self, predictions: Mapping[str, float], observed: float) -> None:
        """Score each predictor's forecast of a measurement that has just arrived."""
        for name, pred in predictions.items():
            if not math.isfinite(pred):
                continue
            self._sq_errors.setdefault(name, deque(maxlen=self.window)).append((observed - pred) ** 2)

    def record_fused(self, error: float, growth_allowance: float, halfwidth: float | None) -> None:
        """Score the fused forecast: its error beyond the interval's time-growth term, and whether the
        published interval held the measurement."""
        self._scores.append(max(0.0, abs(error) - growth_allowance))
        if halfwidth is not None:
            self._hits.append(abs(error) <= halfwidth)

    # results -------------------------------------------------------------------------------------

    def mse(self, name: str) -> float | None:
        errs = self._sq_errors.get(name)
        if errs is None or len(errs) < MIN_SCORED:
            return None
        return float(np.mean(errs))

    def weights(
        self, names: list[str], fallback: str, floors: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """Normalised inverse-MSE weights over `names`; all weight on `fallback` until scores exist.

        `floors` are self-reported variances: a predictor is weighted by the larger of its measured
        error and its own stated spread, so it can lose weight by its own account but never gain it.
        """
        inv = {}
        for name in names:
            m = self.mse(name)
            if m is not None:
                floor = (floors or {}).get(name, 0.0)
                inv[name] = 1.0 / max(m, floor, 1e-18)
        if fallback not in inv:
            return {fallback: 1.0}
        total = sum(inv.values())
        return {name: v / total for name, v in inv.items()}

    def conformal_halfwidth(self) -> float | None:
        """Split-conformal quantile of the fused scores, None until there are enough of them."""
        n = len(self._scores)
        rank = math.ceil((n + 1) * self.coverage)
        if rank > n:
            return None
        return float(np.partition(np.fromiter(self._scores, float, n), rank - 1)[rank - 1])

    def empirical_coverage(self) -> float | None:
        if len(self._hits) < 8:
            return None
        return sum(self._hits) / len(self._hits)

    def forget(self, name: str) -> None:
        """Drop one predictor's record: it must earn its weight again."""
        self._sq_errors.pop(name, None)

    def reset(self) -> None:
        self._sq_errors.clear()
        self._scores.clear()
        self._hits.clear()
