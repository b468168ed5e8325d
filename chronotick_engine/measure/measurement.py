"""What measurement hands the model: one offset observation, after selection across servers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Measurement:
    """One accepted offset observation (after cross-server selection).

    t is seconds on the local monotonic timescale; offset is reference - local system time;
    delay is the round-trip delay of the exchange behind it (0 when unknown).
    """

    t: float
    offset: float
    delay: float = 0.0
