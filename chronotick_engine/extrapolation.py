"""How an estimate is carried from its anchor to another instant: the one formula that the
daemon's estimator, the replay harness and every client use, so replay figures mean what clients see.
"""

from __future__ import annotations


def offset_at(offset_s: float, drift: float, elapsed_s: float) -> float:
    """Offset (reference - local) elapsed_s after the anchor: the drift is applied once, from the anchor."""
    return offset_s + drift * elapsed_s


def halfwidth_coefficients(
    offset_unc_s: float, drift_unc: float, max_drift_rate: float
) -> tuple[float, float]:
    """(half-width at the anchor in s, growth in s per s of |elapsed|) of the 95% interval.

    Linear growth: the drift estimate's own uncertainty plus an allowance for frequency wander the
    model cannot see. Adding them, rather than combining in quadrature, keeps the bound valid when
    the daemon has died and the anchor recedes (ClockBound's rule, with a modelled drift).
    """
    return offset_unc_s, drift_unc + max_drift_rate


def halfwidth_at(offset_unc_s: float, drift_unc: float, max_drift_rate: float, elapsed_s: float) -> float:
    """95% half-width elapsed_s after the anchor."""
    at_anchor, growth = halfwidth_coefficients(offset_unc_s, drift_unc, max_drift_rate)
    return at_anchor + growth * abs(elapsed_s)
