"""Back-test fusion of offset predictors: every predictor's forecast of each new measurement is
scored before that measurement is used, so a predictor earns its weight by how it forecast, never
by its self-reported spread.

Two combinations are built from those scores:
- the inverse-MSE mixture, weights 1 / (recent mean squared error): it averages predictors whose
  errors differ, which is what wins on a disciplined host whose offset wanders;
- the posterior over the predictors and that mixture (Bayesian model averaging): each candidate's
  back-tested errors are a Gaussian likelihood around a common noise level. One-step errors against
  noisy measurements are dominated by that noise, so inverse-MSE weights stay near-equal between a
  good line and a worse one fitted to the same data; the likelihood ratio exp(-dSSE / 2 sigma^2)
  instead grows with every measurement the better one wins, and the mixture is a candidate, so
  averaging is kept where it forecasts best.

The fused predictor's own one-step errors give a conformal 95% half-width: the empirical quantile of
recent errors, which holds its coverage whatever the noise distribution is.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

import numpy as np

MIN_SCORED = 4  # back-test errors needed before a predictor's weight is trusted
MAX_LAG1_CORRELATION = 0.95


def _floor(name: str, floors: Mapping[str, float] | None) -> float:
    """A predictor's self-reported variance: it can lose weight by its own account, never gain it."""
    return max((floors or {}).get(name, 0.0), 1e-18)


class BacktestFusion:
    def __init__(self, window: int = 128, coverage: float = 0.95, score_window: int = 128):
        self.window = window
        self.coverage = coverage
        self._errors: deque[dict[str, float]] = deque(maxlen=window)
        self._scores: deque[float] = deque(maxlen=score_window)
        self._hits: deque[bool] = deque(maxlen=score_window)

    # scoring -------------------------------------------------------------------------------------

    def record(self, predictions: Mapping[str, float], observed: float) -> None:
        """Score each predictor's forecast of a measurement that has just arrived."""
        self._errors.append({n: observed - p for n, p in predictions.items() if math.isfinite(p)})

    def record_fused(self, error: float, growth_allowance: float, halfwidth: float | None) -> None:
        """Score the fused forecast: its error beyond the interval's time-growth term, and whether the
        published interval held the measurement."""
        self._scores.append(max(0.0, abs(error) - growth_allowance))
        if halfwidth is not None:
            self._hits.append(abs(error) <= halfwidth)

    # results -------------------------------------------------------------------------------------

    def mse(self, names: list[str]) -> dict[str, float]:
        """The back-tested MSE of each of `names` scored at least MIN_SCORED times; one pass."""
        wanted = set(names)
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for row in self._errors:
            for name, e in row.items():
                if name in wanted:
                    sums[name] = sums.get(name, 0.0) + e * e
                    counts[name] = counts.get(name, 0) + 1
        return {n: sums[n] / counts[n] for n in names if counts.get(n, 0) >= MIN_SCORED}

    def _scored_mse(self, names: list[str], floors: Mapping[str, float] | None) -> dict[str, float]:
        """Each scored predictor's MSE, raised to its floor."""
        return {n: max(m, _floor(n, floors)) for n, m in self.mse(names).items()}

    def inverse_mse_weights(
        self, names: list[str], fallback: str, floors: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """Normalised 1/MSE weights over `names`; all weight on `fallback` until scores exist."""
        mse = self._scored_mse(names, floors)
        if fallback not in mse:
            return {fallback: 1.0}
        total = sum(1.0 / m for m in mse.values())
        return {name: (1.0 / m) / total for name, m in mse.items()}

    def posterior_weights(
        self,
        names: list[str],
        fallback: str,
        mixture: tuple[str, Mapping[str, float]],
        floors: Mapping[str, float] | None = None,
    ) -> dict[str, float]:
        """Bayesian model averaging over `names` and the scored mixture (its back-test name and
        weights), expanded to weights over `names`; all weight on `fallback` until scores exist.

        The candidates are compared on the measurements all of them forecast. Their common noise
        level is the best candidate's MSE, inflated by (1 + rho) / (1 - rho) for the lag-1
        correlation rho of its errors: errors that come in runs carry fewer independent
        comparisons than their count, and must not make the posterior overconfident.
        """
        mix_name, mix_weights = mixture
        candidates = list(self._scored_mse([*names, mix_name], floors))
        if fallback not in candidates:
            return {fallback: 1.0}
        rows = [row for row in self._errors if all(n in row for n in candidates)]
        if len(rows) < MIN_SCORED:
            return dict(mix_weights)
        errors = np.array([[row[n] for n in candidates] for row in rows])
        mse = np.maximum(np.mean(errors**2, axis=0), [_floor(n, floors) for n in candidates])
        best = errors[:, int(np.argmin(mse))]
        rho = float(np.dot(best[1:], best[:-1]) / max(float(np.dot(best, best)), 1e-300))
        rho = min(max(rho, 0.0), MAX_LAG1_CORRELATION)
        noise = float(mse.min()) * (1.0 + rho) / (1.0 - rho)
        log_like = -(mse - mse.min()) * len(rows) / (2.0 * noise)
        post = np.exp(log_like)
        post /= post.sum()
        weights: dict[str, float] = {}
        for name, p in zip(candidates, post, strict=True):
            for member, w in mix_weights.items() if name == mix_name else [(name, 1.0)]:
                weights[member] = weights.get(member, 0.0) + float(p) * w
        return weights

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
        for row in self._errors:
            row.pop(name, None)

    def reset(self) -> None:
        self._errors.clear()
        self._scores.clear()
        self._hits.clear()
