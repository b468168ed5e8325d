"""Replay harness: feed a recorded or simulated trace to estimators and score them.

Protocol (../shared/traces/README.md): an estimator is fed every K-th NTP row once the replay clock
has passed it, and is queried at each evaluation instant strictly before any exchange at that
instant is revealed. Evaluation instants are the rows with a true offset when the trace has any,
otherwise every NTP row (one-step-ahead against the exchange itself). The first 8 fed exchanges
are warm-up. ChronoTick is scored through the very ClockModel the daemon runs.
"""

from __future__ import annotations

import csv
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from chronotick_engine.config import ChronoTickConfig
from chronotick_engine.measure.measurement import Measurement
from chronotick_engine.model.classical import ClockModel, EstimatorSettings
from chronotick_engine.model.regression import line_fit

WARMUP_EXCHANGES = 8


@dataclass(frozen=True, slots=True)
class TraceRow:
    t: float
    ntp_offset: float | None
    ntp_delay: float | None
    true_offset: float | None
    local_step: float = 0.0  # a step of the local clock the daemon would see (realtime vs monotonic)


def _opt_float(value: str | None) -> float | None:
    if value is None or value.strip() == "":
        return None
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"non-finite value {value!r}")
    return x


def load_trace(path: str | Path) -> list[TraceRow]:
    """Parse the canonical CSV; raise ValueError with the line number on bad input."""
    rows: list[TraceRow] = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"t_s", "ntp_offset_s"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        last_t = -math.inf
        for line, rec in enumerate(reader, start=2):
            try:
                t = _opt_float(rec.get("t_s"))
                if t is None:
                    raise ValueError("empty t_s")
                row = TraceRow(
                    t=t,
                    ntp_offset=_opt_float(rec.get("ntp_offset_s")),
                    ntp_delay=_opt_float(rec.get("ntp_delay_s")),
                    true_offset=_opt_float(rec.get("true_offset_s")),
                    local_step=_opt_float(rec.get("local_step_s")) or 0.0,
                )
            except ValueError as exc:
                raise ValueError(f"{path}:{line}: {exc}") from None
            if t < last_t:
                raise ValueError(f"{path}:{line}: t_s decreases ({t} after {last_t})")
            last_t = t
            rows.append(row)
    if not any(r.ntp_offset is not None for r in rows):
        raise ValueError(f"{path}: no NTP exchanges")
    return rows


# ---------------------------------------------------------------------------------------- estimators


class Estimator(Protocol):
    name: str

    def feed(self, t: float, offset: float, delay: float) -> None: ...

    def predict(self, t: float) -> tuple[float, float | None]:
        """(offset, 95% half-width or None) at t."""
        ...

    def local_step(self, step: float) -> None: ...


class _Baseline:
    def local_step(self, step: float) -> None:
        """Baselines are naive references: they do not hear about local clock steps."""


class SystemClock(_Baseline):
    name = "system"

    def feed(self, t: float, offset: float, delay: float) -> None:
        pass

    def predict(self, t: float) -> tuple[float, float | None]:
        return 0.0, None


class HoldLast(_Baseline):
    name = "hold-last"

    def __init__(self) -> None:
        self.last = 0.0

    def feed(self, t: float, offset: float, delay: float) -> None:
        self.last = offset

    def predict(self, t: float) -> tuple[float, float | None]:
        return self.last, None


class MedianN(_Baseline):
    def __init__(self, n: int = 8):
        self.name = f"median-{n}"
        self.values: deque[float] = deque(maxlen=n)

    def feed(self, t: float, offset: float, delay: float) -> None:
        self.values.append(offset)

    def predict(self, t: float) -> tuple[float, float | None]:
        return (float(np.median(self.values)) if self.values else 0.0), None


class PlainWLS(_Baseline):
    """A plain chrony-like weighted linear fit over the last n exchanges, weights 1/delay^2."""

    name = "wls"

    def __init__(self, n: int = 64):
        self.samples: deque[tuple[float, float, float]] = deque(maxlen=n)

    def feed(self, t: float, offset: float, delay: float) -> None:
        self.samples.append((t, offset, delay))

    def predict(self, t: float) -> tuple[float, float | None]:
        if len(self.samples) < 3:
            return (self.samples[-1][1] if self.samples else 0.0), None
        a = np.array(self.samples)
        w = 1.0 / np.maximum(a[:, 2], 1e-4) ** 2
        fit = line_fit(a[:, 0], a[:, 1], w, float(a[-1, 0]), iterations=1)
        return fit.predict(t), 1.96 * math.sqrt(fit.resid_scale**2 + fit.predict_var(t))


class ClockBoundStyle(_Baseline):
    """Hold-last with ClockBound's bound: delay/2 + 50 ppm x elapsed."""

    name = "clockbound-50ppm"

    def __init__(self) -> None:
        self.last: tuple[float, float, float] | None = None

    def feed(self, t: float, offset: float, delay: float) -> None:
        self.last = (t, offset, delay)

    def predict(self, t: float) -> tuple[float, float | None]:
        if self.last is None:
            return 0.0, None
        t0, off, delay = self.last
        return off, delay / 2 + 50e-6 * (t - t0)


class ChronoTick:
    """The daemon's own ClockModel behind the harness's interface."""

    def __init__(self, model: ClockModel | None = None, name: str = "chronotick"):
        self.name = name
        self.model = model or ClockModel(EstimatorSettings())

    def feed(self, t: float, offset: float, delay: float) -> None:
        self.model.update(Measurement(t, offset, delay))

    def predict(self, t: float) -> tuple[float, float | None]:
        est = self.model.estimate
        if est is None:
            return 0.0, None
        return est.offset_at(t), est.halfwidth_at(t)

    def local_step(self, step: float) -> None:
        self.model.local_step(step)


def default_estimators(model: ClockModel | None = None) -> list[Estimator]:
    return [ChronoTick(model), SystemClock(), HoldLast(), MedianN(8), PlainWLS(64), ClockBoundStyle()]


# ---------------------------------------------------------------------------------------------- replay


@dataclass
class Score:
    errors: list[float] = field(default_factory=list)
    hits: list[bool] = field(default_factory=list)
    halfwidths: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, float | int | None]:
        signed = np.array(self.errors) * 1e3
        e = np.abs(signed)
        out: dict[str, float | int | None] = {
            "mae_ms": round(float(e.mean()), 4) if e.size else None,
            "p95_ms": round(float(np.percentile(e, 95)), 4) if e.size else None,
            "max_ms": round(float(e.max()), 4) if e.size else None,
            # Where a path bias no estimator can see dominates (asymmetric paths), the MAE is
            # mostly |bias|; these two tell an estimator's own error from it.
            "mean_error_ms": round(float(signed.mean()), 4) if e.size else None,
            "error_sd_ms": round(float(signed.std()), 4) if e.size else None,
        }
        if self.hits:
            out["coverage"] = round(sum(self.hits) / len(self.hits), 4)
            out["halfwidth_ms"] = round(float(np.mean(self.halfwidths)) * 1e3, 4)
        return out


BOOTSTRAP_BLOCK = 8  # instants per block: errors one step apart are correlated
BOOTSTRAP_RESAMPLES = 2000


def mae_ratio_interval(ours: list[float], theirs: list[float]) -> list[float]:
    """95% moving-block bootstrap interval of MAE(ours) / MAE(theirs) over the same instants: where
    it straddles 1, the trace cannot tell the two apart."""
    a, b = np.abs(np.array(ours)), np.abs(np.array(theirs))
    n = a.size
    block = min(BOOTSTRAP_BLOCK, n)
    rng = np.random.default_rng(0)
    starts = rng.integers(0, n - block + 1, size=(BOOTSTRAP_RESAMPLES, -(-n // block)))
    idx = (starts[:, :, None] + np.arange(block)).reshape(BOOTSTRAP_RESAMPLES, -1)[:, :n]
    ratios = a[idx].sum(axis=1) / np.maximum(b[idx].sum(axis=1), 1e-300)
    return [round(float(x), 3) for x in np.percentile(ratios, [2.5, 97.5])]


@dataclass
class ReplayTrack:
    """Per-instant series for plotting: truth, estimate and band of the first estimator."""

    t: list[float] = field(default_factory=list)
    truth: list[float] = field(default_factory=list)
    estimate: list[float] = field(default_factory=list)
    halfwidth: list[float] = field(default_factory=list)
    ntp_t: list[float] = field(default_factory=list)
    ntp_offset: list[float] = field(default_factory=list)


def replay(
    rows: list[TraceRow],
    estimators: Iterable[Estimator],
    poll_every: int = 1,
    track: ReplayTrack | None = None,
) -> tuple[int, dict[str, Score]]:
    if poll_every < 1:
        raise ValueError("poll_every must be >= 1")
    ests = list(estimators)
    scores = {e.name: Score() for e in ests}
    has_truth = any(r.true_offset is not None for r in rows)
    fed = 0
    ntp_index = 0
    points = 0
    for row in rows:
        is_ntp = row.ntp_offset is not None
        truth = row.true_offset if has_truth else row.ntp_offset
        if row.local_step:
            for e in ests:
                e.local_step(row.local_step)
        if truth is not None and fed >= WARMUP_EXCHANGES:
            points += 1
            for i, e in enumerate(ests):
                pred, hw = e.predict(row.t)
                sc = scores[e.name]
                sc.errors.append(pred - truth)
                if hw is not None:
                    sc.hits.append(abs(pred - truth) <= hw)
                    sc.halfwidths.append(hw)
                if i == 0 and track is not None:
                    track.t.append(row.t)
                    track.truth.append(truth)
                    track.estimate.append(pred)
                    track.halfwidth.append(hw if hw is not None else math.nan)
        if is_ntp:
            if ntp_index % poll_every == 0:
                assert row.ntp_offset is not None
                for e in ests:
                    e.feed(row.t, row.ntp_offset, row.ntp_delay or 0.0)
                fed += 1
                if track is not None:
                    track.ntp_t.append(row.t)
                    track.ntp_offset.append(row.ntp_offset)
            ntp_index += 1
    return points, scores


def replay_report(
    rows: list[TraceRow],
    trace_name: str,
    poll_every: int = 1,
    model_factory: Callable[[], ClockModel] | None = None,
    cfg: ChronoTickConfig | None = None,
    scores_out: dict[str, Score] | None = None,
) -> dict:
    """Scores of ChronoTick and the baselines on one trace; `scores_out`, when given, receives the
    per-instant scores behind them.

    With a `cfg` that enables TimesFM, `chronotick` is the fused pipeline the daemon would run
    (forecasts computed inline) and `chronotick-classical` the same config without forecasters,
    replayed side by side; `forecast` reports the forecasters' state.
    """
    from chronotick_engine.model.setup import attach_forecasters, settings_from_config

    if cfg is not None:
        model_factory = model_factory or (lambda: ClockModel(settings_from_config(cfg)))
    model = model_factory() if model_factory else None
    estimators = default_estimators(model)
    forecast = None
    if cfg is not None and model is not None:
        forecast = attach_forecasters(model, cfg, threaded=False)
        if forecast.requested:
            estimators.insert(1, ChronoTick(ClockModel(settings_from_config(cfg)), "chronotick-classical"))
    points, scores = replay(rows, estimators, poll_every)
    if scores_out is not None:
        scores_out.update(scores)
    report = {
        "trace": trace_name,
        "poll_every": poll_every,
        "points": points,
        "estimators": {name: sc.as_dict() for name, sc in scores.items()},
    }
    if forecast is not None and forecast.requested:
        report["forecast"] = forecast.as_dict()
        report["forecast"]["weights"] = {k: round(v, 4) for k, v in model.weights.items()}
        forecast.stop()
    return report
