"""Synthetic traces with exact truth, in the canonical replay format.

The physics: the local clock's error integrates a frequency error f(t) (s/s); the true offset is
minus that error. An NTP exchange sees the true offset plus half the difference of its forward and
backward one-way delays, plus timestamping noise. Every scenario is seeded and deterministic.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

POLL_S = 64.0
DURATION_S = 6 * 3600.0


@dataclass
class Network:
    base_fwd: float = 5e-3
    base_back: float = 5e-3
    queue_mean: float = 0.5e-3
    pareto_alpha: float | None = None  # heavy-tailed queueing when set
    spike_rate: float = 0.0
    stamp_noise: float = 20e-6

    def exchange(self, rng: np.random.Generator) -> tuple[float, float]:
        """(offset error, round-trip delay) of one exchange."""
        if self.pareto_alpha:
            qf, qb = self.queue_mean * (rng.pareto(self.pareto_alpha, 2))
        else:
            qf, qb = rng.exponential(self.queue_mean, 2)
        if self.spike_rate and rng.random() < self.spike_rate:
            qf += rng.uniform(0.1, 0.5)
        d_f, d_b = self.base_fwd + qf, self.base_back + qb
        return (d_f - d_b) / 2 + rng.normal(0, self.stamp_noise), d_f + d_b


@dataclass
class Scenario:
    name: str
    doc: str
    frequency: Callable[[np.ndarray, np.random.Generator], np.ndarray]  # f(t) in s/s on a 1 s grid
    network: Network
    liar_every: int = 0  # every n-th exchange comes from a server lying by +1 s
    step_at: float | None = None  # local clock stepped by step_size at this time
    step_size: float = 0.2
    outage: tuple[float, float] | None = None  # no NTP replies in [start, end)


def _const(ppm: float):
    return lambda t, rng: np.full(t.size, ppm * 1e-6)


def _temperature(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    daily = 1.5e-6 * np.sin(2 * math.pi * t / DURATION_S)  # a day's cycle compressed into the trace
    bursts = 0.8e-6 * ((t % 5400.0) < 900.0)  # load bursts warm the crystal for 15 min every 90 min
    return 12e-6 + daily + bursts


def _random_walk(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    steps = rng.normal(0, 0.02e-6 / math.sqrt(POLL_S), t.size)  # ~0.02 ppm per poll interval
    return -8e-6 + np.cumsum(steps)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "constant-frequency",
            "constant +23 ppm frequency error, light symmetric queueing",
            _const(23),
            Network(),
        ),
        Scenario(
            "temperature-wander",
            "12 ppm plus a 1.5 ppm thermal cycle and 0.8 ppm load bursts",
            _temperature,
            Network(),
        ),
        Scenario("frequency-random-walk", "-8 ppm with a 0.02 ppm/poll random walk", _random_walk, Network()),
        Scenario(
            "asymmetric-heavy-tail",
            "3 ms out / 7 ms back (a -2 ms bias, 0.4 of delay/2) with Pareto(1.5) queueing",
            _const(-15),
            Network(base_fwd=3e-3, base_back=7e-3, queue_mean=0.3e-3, pareto_alpha=1.5),
        ),
        Scenario(
            "delay-spikes", "1% of exchanges delayed 100-500 ms one way", _const(7), Network(spike_rate=0.01)
        ),
        Scenario(
            "falseticker",
            "every 3rd exchange from a server lying by +1 s",
            _const(-4),
            Network(),
            liar_every=3,
        ),
        Scenario(
            "clock-step",
            "the system clock is stepped by +0.2 s half-way",
            _const(9),
            Network(),
            step_at=DURATION_S / 2,
        ),
        Scenario(
            "long-outage",
            "no NTP for 2 h in the middle; truth is still scored",
            _random_walk,
            Network(),
            outage=(2 * 3600.0, 4 * 3600.0),
        ),
    ]
}


def simulate(name: str, seed: int = 1) -> list[dict[str, float | str]]:
    sc = SCENARIOS[name]
    rng = np.random.default_rng(seed)
    grid = np.arange(0.0, DURATION_S + 1.0)
    freq = sc.frequency(grid, rng)
    error = np.cumsum(freq)  # local clock error (local - reference) on the 1 s grid
    rows: list[dict[str, float | str]] = []
    k = 0
    for t in np.arange(0.0, DURATION_S, POLL_S / 2):
        i = int(t)
        step = sc.step_size if sc.step_at is not None and t >= sc.step_at else 0.0
        truth = -(error[i] + step)
        row: dict[str, float | str] = {
            "t_s": t,
            "ntp_offset_s": "",
            "ntp_delay_s": "",
            "true_offset_s": truth,
        }
        if sc.step_at is not None and sc.step_at <= t < sc.step_at + POLL_S / 2:
            row["local_step_s"] = sc.step_size
        in_outage = sc.outage is not None and sc.outage[0] <= t < sc.outage[1]
        if t % POLL_S == 0 and not in_outage:
            err, delay = sc.network.exchange(rng)
            k += 1
            lie = 1.0 if sc.liar_every and k % sc.liar_every == 0 else 0.0
            row["ntp_offset_s"] = truth + err + lie
            row["ntp_delay_s"] = delay
        rows.append(row)
    return rows


def write_trace(rows: list[dict[str, float | str]], path: str | Path) -> None:
    fields = ["t_s", "ntp_offset_s", "ntp_delay_s", "true_offset_s", "local_step_s"]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, restval="")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.9f}" if isinstance(v, float) else v) for k, v in r.items()})
