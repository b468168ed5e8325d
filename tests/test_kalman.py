"""The anchored Kalman bank: exact anchoring, weights taken as samples leave the window, and what
it buys on a clock whose frequency holds."""

from __future__ import annotations

import numpy as np
import pytest

from chronotick_engine.eval.replay import load_trace, replay_report
from chronotick_engine.eval.simulate import simulate, write_trace
from chronotick_engine.measure.measurement import Measurement
from chronotick_engine.model.base import History
from chronotick_engine.model.classical import MIXTURE_CLASSICAL, ClockModel
from chronotick_engine.model.kalman import filter_samples, wander_density
from chronotick_engine.model.predictors import Kalman

WINDOW = 64


def samples(n: int, ppm: float = 12.0, noise: float = 200e-6, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = 64.0 * np.arange(n)
    return t, -ppm * 1e-6 * t + rng.normal(0, noise, n)


def slide(kalman: Kalman, t, y, variance_of) -> None:
    """Refit as the model does: one History per new sample, the last WINDOW samples, with the
    variances `variance_of(index, samples_seen)` they have at that refit."""
    for n in range(1, t.size + 1):
        lo = max(0, n - WINDOW)
        var = np.array([variance_of(i, n) for i in range(lo, n)])
        kalman.refit(History(t[lo:n], y[lo:n], np.zeros(n - lo), 1.0 / var))


def test_the_anchor_makes_the_window_exact():
    """Filtering a sliding window from the anchor must equal one pass over every sample."""
    t, y = samples(300)
    kalman = Kalman(0.2, WINDOW)
    slide(kalman, t, y, lambda i, n: (200e-6) ** 2)
    one_pass = filter_samples(None, t.tolist(), y.tolist(), [(200e-6) ** 2] * t.size, wander_density(0.2))
    assert kalman.state.offset == pytest.approx(one_pass.offset, abs=1e-12)
    assert kalman.state.frequency == pytest.approx(one_pass.frequency, abs=1e-15)


def test_a_sample_leaves_the_window_with_the_weight_it_has_then():
    """While the best delay is not yet known, the first sample looks a thousand times more precise
    than it is. Its weight must be the one it has when it leaves the window, or it would bend the
    frequency for good (a recursive filter that absorbs each sample once got 2x the MAE of a plain
    fit on a constant-frequency clock this way)."""
    t, y = samples(200)
    y[0] += 3e-3
    normal = (200e-6) ** 2
    kalman = Kalman(0.0, WINDOW)
    slide(kalman, t, y, lambda i, n: normal * (1e-6 if i == 0 and n < WINDOW else 1.0))
    honest = filter_samples(None, t.tolist(), y.tolist(), [normal] * t.size, 0.0)
    assert kalman.state.offset == pytest.approx(honest.offset, abs=1e-12)


def test_without_wander_the_frequency_is_learnt_from_every_sample():
    """400 samples 64 s apart with 200 us noise: the whole run pins the frequency to ~0.0014 ppm
    (1 sigma), a 64-sample window only to ~0.02 ppm."""
    errors = []
    for seed in range(5):
        t, y = samples(400, ppm=-23.0, seed=seed)
        kalman = Kalman(0.0, WINDOW)
        slide(kalman, t, y, lambda i, n: (200e-6) ** 2)
        errors.append(abs(kalman.slope() * 1e6 - 23.0))
    assert max(errors) < 0.006


def test_a_local_step_shifts_the_anchor_and_the_window():
    t, y = samples(150)
    kalman = Kalman(0.02, WINDOW)
    slide(kalman, t, y, lambda i, n: (200e-6) ** 2)
    before = kalman.predict(t[-1] + 64.0)
    kalman.local_step(0.2)
    kalman.refit(History(t[-WINDOW:], y[-WINDOW:] - 0.2, np.zeros(WINDOW), np.full(WINDOW, (200e-6) ** -2)))
    assert kalman.predict(t[-1] + 64.0) == pytest.approx(before - 0.2, abs=1e-12)


def test_the_bank_is_weighed_by_the_posterior_but_kept_out_of_the_mixture():
    model = ClockModel()
    t, y = samples(120)
    for ti, yi in zip(t, y, strict=True):
        model.update(Measurement(float(ti), float(yi), 2e-3))
    kalman_names = {p.name for p in model._predictors if isinstance(p, Kalman)}
    assert len(kalman_names) == 4
    assert not kalman_names & model._mixtures[MIXTURE_CLASSICAL].keys()
    assert sum(model.weights.get(n, 0.0) for n in kalman_names) > 0.5  # a line with white noise


def test_a_clock_whose_frequency_holds_is_forecast_from_hours_of_samples(tmp_path):
    """Constant +23 ppm: the filters keep what a 64-sample window forgets (before them: 0.62x the
    chrony-like fit)."""
    path = tmp_path / "c.csv"
    write_trace(simulate("constant-frequency", seed=1), path)
    e = replay_report(load_trace(path), "constant-frequency", 1)["estimators"]
    assert e["chronotick"]["mae_ms"] <= 0.55 * e["wls"]["mae_ms"]
