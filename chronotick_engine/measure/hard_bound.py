"""The worst-case interval for the system clock's offset, beside the model's 95% one.

ClockBound's consumers read "the absolute upper bound on the accuracy of CLOCK_REALTIME", which a
95% interval is not. Each exchange proves that the true offset lay within
`offset ± (delay/2 + root distance)` when it was measured (the reply left the server inside the
round trip, and the server's own distance to its reference bounds the server's error). Moved to a
common instant along the model's drift and widened by the configured maximum drift rate, the
intervals of the selected servers are intersected (Marzullo: the region most of them share).

The published hard interval is the hull of that intersection and the 95% interval, so the 95% one
always lies inside it: widening a bound keeps it a bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from chronotick_engine.measure.ntp import Exchange


@dataclass(frozen=True, slots=True)
class HardInterval:
    """true time - CLOCK_REALTIME lies in [lo, hi] at CLOCK_MONOTONIC `t_ns`, moving at `drift`
    and widening at `max_drift` (s/s) away from it."""

    t_ns: int
    lo: float
    hi: float
    drift: float
    max_drift: float

    def at(self, t_ns: int) -> tuple[float, float]:
        dt = (t_ns - self.t_ns) / 1e9
        grow = self.max_drift * abs(dt)
        move = self.drift * dt
        return self.lo + move - grow, self.hi + move + grow


def radius(ex: Exchange) -> float:
    """How far the true offset can lie from this exchange's offset, in the worst case."""
    return ex.delay / 2 + ex.root_distance


def marzullo(intervals: Iterable[tuple[float, float]]) -> tuple[float, float] | None:
    """The first region that the most intervals share (all of them, when they all overlap)."""
    edges = sorted((e for lo, hi in intervals for e in ((lo, -1), (hi, +1))))
    best, count, region = 0, 0, None
    for i, (value, kind) in enumerate(edges):
        count -= kind
        if kind < 0 and count > best:
            best = count
            region = (value, edges[i + 1][0])
    return region


def intersect(exchanges: list[Exchange], t_ns: int, drift: float, max_drift: float) -> HardInterval | None:
    """The hard interval at `t_ns` from one round's selected exchanges; None without any."""
    moved = []
    for ex in exchanges:
        dt = (t_ns - ex.mono_ns) / 1e9
        r = radius(ex) + max_drift * abs(dt)
        centre = ex.offset + drift * dt
        moved.append((centre - r, centre + r))
    region = marzullo(moved)
    if region is None:
        return None
    return HardInterval(t_ns, region[0], region[1], drift, max_drift)


def published_interval(
    hard: HardInterval | None, centre: float, half: float, t_ns: int
) -> tuple[float, float] | None:
    """The hard interval at `t_ns`, grown to hold the 95% interval `centre ± half` of that instant;
    None without a hard interval."""
    if hard is None:
        return None
    return hull(hard.at(t_ns), centre, half)


def hull(interval: tuple[float, float], centre: float, half: float) -> tuple[float, float]:
    """The smallest interval holding both `interval` and `centre ± half`."""
    return min(interval[0], centre - half), max(interval[1], centre + half)


def bound_ns(interval: tuple[float, float]) -> int:
    """ClockBound's bound: the most CLOCK_REALTIME can be off, in whole ns, rounded up."""
    lo, hi = interval
    return math.ceil(max(abs(lo), abs(hi)) * 1e9)
