"""Types shared by the clock models: what they publish, and the predictors they fuse. What they are
fed is measure.measurement.Measurement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from chronotick_engine.extrapolation import halfwidth_at, offset_at

if TYPE_CHECKING:
    from chronotick_engine.model.regression import LineFit


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """The model's published parameters, anchored at anchor_t (monotonic seconds)."""

    anchor_t: float
    offset_s: float  # reference - local at the anchor, seconds
    drift: float  # s/s
    offset_unc_s: float  # 95% half-width at the anchor, seconds
    drift_unc: float  # 95% half-width of the drift, s/s
    max_drift_rate: float  # allowance for unmodelled frequency wander, s/s
    confidence: float
    samples: int
    fused: bool = False

    def offset_at(self, t: float) -> float:
        return offset_at(self.offset_s, self.drift, t - self.anchor_t)

    def halfwidth_at(self, t: float) -> float:
        return halfwidth_at(self.offset_unc_s, self.drift_unc, self.max_drift_rate, t - self.anchor_t)


@dataclass(frozen=True, slots=True)
class History:
    """Arrays over the recent accepted measurements, oldest first, with regression weights."""

    t: np.ndarray
    offset: np.ndarray
    delay: np.ndarray
    weight: np.ndarray

    @property
    def size(self) -> int:
        return int(self.t.size)


class Predictor(Protocol):
    """An offset forecaster scored and weighted by the back-test fusion."""

    name: str

    def refit(self, history: History) -> None: ...

    def predict(self, t: float) -> float: ...

    def slope(self) -> float: ...

    def spread(self, t: float) -> float | None:
        """The predictor's own 1-sigma spread at t, where it states one."""
        ...

    def reset(self) -> None:
        """Forget any state beyond the History it is refitted from."""
        ...

    def local_step(self, step_s: float) -> None:
        """The local clock stepped by step_s: re-express any stored offsets."""
        ...


class ForecastSource(Protocol):
    """A set of forecasting predictors (TimesFM, forecaster.py) that the model joins to its fusion;
    the model hands them its reference line and tells them of every refit."""

    @property
    def predictors(self) -> Sequence[ReferencedPredictor]: ...

    def notify(self) -> None: ...


class ReferencedPredictor(Predictor, Protocol):
    def set_reference(self, line: LineFit) -> None: ...
