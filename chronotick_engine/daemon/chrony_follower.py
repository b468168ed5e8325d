"""Following the host's chronyd (clock_measurement.chrony), and the NTS guard over it.

Each report becomes the published estimate: the system clock plus chronyd's remaining correction.
Its hard interval is ClockBound's `correction ± (root_delay/2 + root_dispersion)`; the 95% interval
is narrower where chronyd's own statistics allow, never wider than the hard one. Both widen
until the next report: chronyd may slew the whole remaining correction away within a second, and
its frequency may be off by its skew plus the configured maximum drift.

The guard: chronyd usually follows unauthenticated servers that an on-path attacker can move.
When NTS servers are configured beside it, every NTS round's authenticated hard interval is
checked against chronyd's; DISAGREE_CHECKS disjoint checks in a row make the status DISRUPTED,
and one overlapping check clears it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chronotick_engine.config import ChronoTickConfig
from chronotick_engine.measure.chrony import ChronyReader, ChronyReport, ChronyUnavailable
from chronotick_engine.measure.hard_bound import HardInterval, intersect
from chronotick_engine.measure.ntp import Exchange
from chronotick_engine.model.base import ClockEstimate
from chronotick_engine.protocol.codec import Status
from chronotick_engine.protocol.detail import ChronyDetail, NtsGuardDetail

log = logging.getLogger("chronotick.daemon")

DISAGREE_CHECKS = 3
SLEW_WINDOW_S = 1.0  # chronyd may correct the whole remaining offset within about this long


def estimate_from(report: ChronyReport, wander_ppm: float, asymmetry_fraction: float) -> ClockEstimate:
    """The published estimate for a report: centred on system + correction, a 95% half-width of
    chronyd's dispersion, a share of half its root delay (the path asymmetry it cannot see) and
    twice its rms offset, capped at the hard half-width."""
    hard = report.half_width
    half95 = min(
        hard, report.root_dispersion + asymmetry_fraction * report.root_delay / 2 + 2 * report.rms_offset
    )
    return ClockEstimate(
        anchor_t=report.mono_ns / 1e9,
        offset_s=report.correction,
        drift=0.0,  # chronyd corrects the frequency; what is left is within its skew
        offset_unc_s=half95,
        drift_unc=report.skew_ppm * 1e-6 + abs(report.correction) / SLEW_WINDOW_S,
        max_drift_rate=wander_ppm * 1e-6,
        confidence=0.95,
        samples=1,
    )


def hard_from(report: ChronyReport, max_drift_ppm: float) -> HardInterval:
    """ClockBound's hard interval around system + correction, widening at the configured max drift
    plus chronyd's skew plus the slew that may remove the correction."""
    half = report.half_width
    rate = (max_drift_ppm + report.skew_ppm) * 1e-6 + abs(report.correction) / SLEW_WINDOW_S
    return HardInterval(report.mono_ns, report.correction - half, report.correction + half, 0.0, rate)


@dataclass
class NtsGuard:
    """chronyd's hard interval against the NTS-authenticated one, check by check."""

    disagreeing: int = 0
    disrupted: bool = False
    gap_s: float | None = None  # how far apart the two intervals are (0 when they overlap)
    chrony_interval: tuple[float, float] | None = None
    nts_interval: tuple[float, float] | None = None

    def check(self, chrony: HardInterval, nts: HardInterval, now_ns: int) -> None:
        c, n = chrony.at(now_ns), nts.at(now_ns)
        self.chrony_interval, self.nts_interval = c, n
        self.gap_s = max(0.0, n[0] - c[1], c[0] - n[1])
        if self.gap_s > 0:
            self.disagreeing += 1
            if self.disagreeing >= DISAGREE_CHECKS and not self.disrupted:
                self.disrupted = True
                log.warning(
                    "DISRUPTED: chronyd's interval %s and the NTS-authenticated interval %s have not "
                    "overlapped for %d checks (%.3f ms apart): chronyd may follow spoofed servers",
                    _ms(c),
                    _ms(n),
                    self.disagreeing,
                    self.gap_s * 1e3,
                )
        else:
            if self.disrupted:
                log.info("chronyd and the NTS-authenticated servers agree again: %s and %s", _ms(c), _ms(n))
            self.disagreeing = 0
            self.disrupted = False

    def detail(self) -> NtsGuardDetail:
        return NtsGuardDetail(
            disrupted=self.disrupted,
            disagreeing_checks=self.disagreeing,
            disagreement_ms=None if self.gap_s is None else round(self.gap_s * 1e3, 6),
            chrony_interval_ms=_pair_ms(self.chrony_interval),
            nts_interval_ms=_pair_ms(self.nts_interval),
        )


class ChronyFollower:
    """chrony mode's state: the last report, why it may not be served, its hard interval, and the
    guard. The daemon calls fetch() outside its lock and everything else under it."""

    def __init__(self, cfg: ChronoTickConfig):
        section = cfg.clock_measurement.chrony
        assert section is not None
        self.section = section
        self.estimator = cfg.estimator
        self.reader = ChronyReader(section.socket)
        self.report: ChronyReport | None = None
        self.problem: str | None = None
        self.hard: HardInterval | None = None
        self.reads = 0
        nts = any(e.nts for e in cfg.clock_measurement.ntp.entries())
        self.guard = NtsGuard() if nts else None

    def fetch(self) -> tuple[ChronyReport | None, str | None]:
        """(report, why it must not be served): the socket I/O, outside any lock."""
        try:
            report = self.reader.read()
        except ChronyUnavailable as exc:
            return None, str(exc)
        return report, report.problem(self.section.max_reference_age_seconds)

    def adopt(self, report: ChronyReport | None, problem: str | None) -> ClockEstimate | None:
        """Take a fetched report; the estimate to publish when it may be served. A change of
        problem is logged once."""
        if problem != self.problem:
            if problem is not None:
                log.warning("not SYNCHRONIZED: %s", problem)
            elif self.reads:
                log.info("chronyd is usable again (reference %s)", report.reference if report else "?")
        self.problem = problem
        if report is not None:
            self.report = report
        if report is None or problem is not None:
            return None
        self.hard = hard_from(report, self.estimator.max_drift_ppm)
        self.reads += 1
        return estimate_from(report, self.estimator.wander_ppm, self.estimator.asymmetry_fraction)

    def check_guard(self, authenticated: list[Exchange], now_ns: int) -> None:
        """One guard check: the NTS-authenticated exchanges' hard interval against chronyd's."""
        if self.guard is None or not authenticated or self.hard is None:
            return
        nts = intersect(authenticated, now_ns, 0.0, self.estimator.max_drift_ppm * 1e-6)
        if nts is not None:
            self.guard.check(self.hard, nts, now_ns)

    def silence_limit_s(self) -> float:
        return 3 * self.section.poll_seconds + 2.0  # a missed read or two is not yet silence

    def status(self, now_ns: int, est: ClockEstimate | None, disrupted: bool, last_ns: int) -> Status:
        if disrupted or (self.guard is not None and self.guard.disrupted):
            return Status.DISRUPTED
        if est is None:
            return Status.WARMING_UP
        if self.problem is not None or (now_ns - last_ns) / 1e9 > self.silence_limit_s():
            return Status.FREE_RUNNING
        return Status.SYNCHRONIZED

    def detail(self) -> ChronyDetail:
        r = self.report
        return ChronyDetail(
            socket=self.section.socket,
            reference=None if r is None else r.reference,
            stratum=None if r is None else r.stratum,
            leap=None if r is None else r.leap,
            correction_ms=None if r is None else round(r.correction * 1e3, 6),
            root_delay_ms=None if r is None else round(r.root_delay * 1e3, 6),
            root_dispersion_ms=None if r is None else round(r.root_dispersion * 1e3, 6),
            skew_ppm=None if r is None else round(r.skew_ppm, 4),
            reference_age_s=None if r is None else round(r.age_s, 3),
            problem=self.problem,
            nts_guard=None if self.guard is None else self.guard.detail(),
        )


def _ms(interval: tuple[float, float]) -> str:
    return f"[{interval[0] * 1e3:+.3f}, {interval[1] * 1e3:+.3f}] ms"


def _pair_ms(interval: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if interval is None else (round(interval[0] * 1e3, 6), round(interval[1] * 1e3, 6))
