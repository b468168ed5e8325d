"""A Kalman filter of offset and frequency whose frequency takes a random walk: the model the issue
allows beside chrony's regressions, run as a bank over the wander level q.

A line fit forgets everything older than its window; a filter with small q keeps the frequency it
learnt from hours of samples, and one with large q follows a wandering oscillator faster than any
runs test trims a line. Which q fits the clock at hand is left to the back-test (fusion.py).

Samples are weighted by their noise variance, and a sample's variance depends on the best delay
seen around it, which is not known when the sample is new. So the filter is anchored: the samples
of the current window are filtered afresh on every refit, with today's variances, starting from an
anchor state that has absorbed every older sample, each with the variance it had when it left the
window.

Pure numerics over floats; scalar arithmetic because a 2x2 state through numpy costs more in call
overhead than in flops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_FREQUENCY_ERROR = 50e-6  # a crystal's worst case, s/s: the frequency prior before any sample


@dataclass(frozen=True, slots=True)
class KalmanState:
    """Offset (s) and frequency (s/s) at time t, with their covariance."""

    t: float
    offset: float
    frequency: float
    p_oo: float
    p_of: float
    p_ff: float

    def predict(self, t: float) -> float:
        return self.offset + self.frequency * (t - self.t)

    def shifted(self, step_s: float) -> KalmanState:
        """The same state against a local clock stepped by step_s."""
        return KalmanState(self.t, self.offset - step_s, self.frequency, self.p_oo, self.p_of, self.p_ff)


def wander_density(ppm_per_sqrt_hour: float) -> float:
    """Spectral density (s^2/s^3) of a frequency random walk that moves so many ppm in an hour (1 sigma)."""
    return (ppm_per_sqrt_hour * 1e-6) ** 2 / 3600.0


def filter_samples(
    state: KalmanState | None,
    t: Sequence[float],
    offset: Sequence[float],
    variance: Sequence[float],
    q: float,
) -> KalmanState | None:
    """Run the filter from `state` (None: no prior) over samples in time order."""
    if state is None:
        if not t:
            return None
        state = KalmanState(t[0], offset[0], 0.0, variance[0], 0.0, MAX_FREQUENCY_ERROR**2)
        t, offset, variance = t[1:], offset[1:], variance[1:]
    ts, x, f, p_oo, p_of, p_ff = state.t, state.offset, state.frequency, state.p_oo, state.p_of, state.p_ff
    for t_k, y, r in zip(t, offset, variance, strict=True):
        dt = t_k - ts
        # Predict: offset integrates frequency; the frequency random walk adds q*dt to it.
        x += f * dt
        p_oo += 2.0 * dt * p_of + dt * dt * p_ff + q * dt**3 / 3.0
        p_of += dt * p_ff + q * dt * dt / 2.0
        p_ff += q * dt
        # Update with the measured offset.
        s = p_oo + r
        k_o, k_f = p_oo / s, p_of / s
        innovation = y - x
        x += k_o * innovation
        f += k_f * innovation
        p_oo, p_of, p_ff = p_oo - k_o * p_oo, p_of - k_o * p_of, p_ff - k_f * p_of
        ts = t_k
    if not (math.isfinite(x) and math.isfinite(f)):
        return None
    return KalmanState(ts, x, f, p_oo, p_of, p_ff)
