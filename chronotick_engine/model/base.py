"""Types shared by the clock models: what they are fed and what they publish."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from chronotick_engine.extrapolation import halfwidth_at, offset_at


@dataclass(frozen=True, slots=True)
class Measurement:
    """One accepted offset observation (after cross-server selection).

    t is seconds on the local monotonic timescale; offset is reference - local system time;
    delay is the round-trip delay of the exchange behind it (0 when unknown).
    """

    t: float
    offset: float
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """The model's published parameters, anchored at anchor_t (monotonic seconds)."""

    anchor_t: float
    offset: float
    drift: float
    offset_unc: float  # 95% half-width at the anchor
    drift_unc: float  # 95% half-width of the drift, s/s
    max_drift_rate: float  # allowance for unmodelled frequency wander, s/s
    confidence: float
    samples: int
    fused: bool = False

    def offset_at(self, t: float) -> float:
        return offset_at(self.offset, self.drift, t - self.anchor_t)

    def halfwidth_at(self, t: float) -> float:
        return halfwidth_at(self.offset_unc, self.drift_unc, self.max_drift_rate, t - self.anchor_t)


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
