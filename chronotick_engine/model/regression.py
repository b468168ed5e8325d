"""Per-series statistics in the manner of chrony's sourcestats: robust weighted line fits of offset
against time, a runs test on residual signs, and a weighted median.

Pure numerics over arrays; knows nothing of NTP, clocks or shared memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HUBER_K = 1.5
RUNS_Z = 1.96


@dataclass(frozen=True, slots=True)
class LineFit:
    """offset(t) = offset + slope * (t - t0), with the covariance of (offset, slope)."""

    t0: float
    offset: float
    slope: float
    var_offset: float
    var_slope: float
    cov: float
    resid_scale: float
    n: int

    def predict(self, t: float) -> float:
        return self.offset + self.slope * (t - self.t0)

    def predict_var(self, t: float) -> float:
        dt = t - self.t0
        return max(0.0, self.var_offset + 2.0 * dt * self.cov + dt * dt * self.var_slope)


def robust_scale(residuals: np.ndarray, floor: float = 1e-9) -> float:
    """MAD-based standard deviation, floored so that a perfect series never gives a zero scale."""
    if residuals.size == 0:
        return floor
    mad = float(np.median(np.abs(residuals - np.median(residuals))))
    return max(1.4826 * mad, floor)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, 0.5 * cum[-1])])


def line_fit(
    t: np.ndarray, y: np.ndarray, w: np.ndarray, t0: float, iterations: int = 3, prior_dof: float = 0.0
) -> LineFit:
    """Weighted least-squares line with Huber reweighting against outliers.

    `w` are relative precisions (1/variance up to a common scale); the scale itself is estimated
    from the weighted residuals, as chrony does, so the covariance is data-driven. With
    `prior_dof` > 0 the weights are absolute (1/variance in s^-2) and the residual scale is shrunk
    up towards them with that many degrees of freedom: three lucky residuals must not make a
    frequency look known to a few ppm.
    """
    n = t.size
    x = t - t0
    if n == 1:
        return LineFit(t0, float(y[0]), 0.0, math.inf, math.inf, 0.0, math.inf, 1)
    huber = np.ones(n)
    for _ in range(max(1, iterations)):
        ww = w * huber
        sw = ww.sum()
        xm = float((ww * x).sum() / sw)
        ym = float((ww * y).sum() / sw)
        sxx = float((ww * (x - xm) ** 2).sum())
        slope = float((ww * (x - xm) * (y - ym)).sum() / sxx) if sxx > 0 else 0.0
        intercept = ym - slope * xm
        resid = y - (intercept + slope * x)
        scale = robust_scale(resid * np.sqrt(w / w.mean()))
        huber = np.minimum(1.0, HUBER_K * scale / np.maximum(np.abs(resid) * np.sqrt(w / w.mean()), 1e-300))
    dof = max(1, n - 2)
    s2 = float((ww * resid**2).sum()) / dof
    # One-sided: the prior may only widen. Residuals wider than the noise estimate (wander a line
    # does not follow) must keep their own, larger scale.
    s2 = max(s2, (s2 * dof + prior_dof) / (dof + prior_dof))
    if sxx <= 0 or n < 3:
        return LineFit(t0, intercept, slope, s2 / sw if sw else math.inf, math.inf, 0.0, math.sqrt(s2), n)
    var_slope = s2 / sxx
    var_mean = s2 / sw
    # Fitted value at t0 (x = 0): intercept = ym - slope*xm.
    var_offset = var_mean + xm * xm * var_slope
    cov = -xm * var_slope
    return LineFit(t0, intercept, slope, var_offset, var_slope, cov, math.sqrt(s2 * n / sw), n)


def runs_test_passes(residuals: np.ndarray) -> bool:
    """False when residual signs come in too few runs: the line no longer fits (chrony's test)."""
    signs = residuals[residuals != 0] > 0
    n = signs.size
    if n < 8:
        return True
    n_pos = int(signs.sum())
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        return False
    runs = 1 + int(np.count_nonzero(signs[1:] != signs[:-1]))
    mu = 2.0 * n_pos * n_neg / n + 1.0
    var = (mu - 1.0) * (mu - 2.0) / (n - 1.0)
    return runs >= mu - RUNS_Z * math.sqrt(max(var, 1e-12))


def adaptive_line_fit(
    t: np.ndarray, y: np.ndarray, w: np.ndarray, t0: float, min_n: int = 8, prior_dof: float = 0.0
) -> LineFit:
    """Fit over the longest recent stretch whose residuals pass the runs test.

    When the frequency changes, old samples make the residuals run in long same-sign stretches;
    dropping the oldest until the test passes follows the change, as chrony's sourcestats does.
    """
    n = t.size
    keep = n
    while True:
        fit = line_fit(t[n - keep :], y[n - keep :], w[n - keep :], t0, prior_dof=prior_dof)
        if keep <= min_n:
            return fit
        resid = y[n - keep :] - (fit.offset + fit.slope * (t[n - keep :] - t0))
        if runs_test_passes(resid):
            return fit
        keep = max(min_n, (keep * 3) // 4)
