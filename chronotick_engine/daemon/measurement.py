"""Measurement: each server polled with retries and backoff, its state kept, its falseticking noted.

The daemon's measurement thread runs one round at a time; a round polls every server concurrently
and hands the replies that passed every check to selection.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from chronotick_engine.config import ChronoTickConfig, NtpServer
from chronotick_engine.measure.ntp import DEFAULT_NTP_PORT, ClockSource, Exchange, Rejected
from chronotick_engine.measure.nts import NtsSession
from chronotick_engine.measure.selection import Selection
from chronotick_engine.protocol.detail import ServerDetail

log = logging.getLogger("chronotick.daemon")


class QueryFn(Protocol):
    def __call__(
        self, host: str, port: int, timeout: float, max_delay: float, clock: ClockSource
    ) -> Exchange: ...


# A server is called unreachable once this many polls in a row failed (the low bits of its reach
# register), and reachable again at its next success; each change is one log line.
UNREACHABLE_AFTER = 3


@dataclass
class ServerState:
    """What the daemon knows of one server; exposed in its status sidecar."""

    name: str
    host: str = ""
    port: int = 0
    nts: NtsSession | None = None  # set for a server that must be measured with NTS
    authenticated: bool = False  # the last accepted reply passed NTS verification
    timestamping: str | None = None  # how the last accepted exchange was stamped
    reach: int = 0  # 8-bit shift register of recent poll successes, as in ntpd/chrony
    polls: int = 0
    accepted: int = 0
    selected: int = 0
    last_offset: float | None = None
    last_delay: float | None = None
    jitter: float = 0.0
    last_ok_mono_ns: int = 0
    last_error: str | None = None
    rejects: Counter[str] = field(default_factory=Counter)
    backoff_until_mono_ns: int = 0

    def record_success(self, ex: Exchange) -> None:
        self.polls += 1
        self.reach = ((self.reach << 1) | 1) & 0xFF
        self.accepted += 1
        if self.last_offset is not None:
            diff = ex.offset - self.last_offset
            self.jitter = math.sqrt(0.75 * self.jitter**2 + 0.25 * diff**2)
        self.last_offset = ex.offset
        self.last_delay = ex.delay
        self.last_ok_mono_ns = ex.mono_ns
        self.last_error = None
        self.authenticated = ex.authenticated
        self.timestamping = ex.timestamping

    def record_failure(self, reason: str, detail: str = "") -> None:
        self.polls += 1
        self.reach = (self.reach << 1) & 0xFF
        self.rejects[reason] += 1
        self.last_error = f"{reason}: {detail}" if detail else reason

    @property
    def reachable(self) -> bool:
        return bool(self.reach & ((1 << UNREACHABLE_AFTER) - 1))

    def detail(self) -> ServerDetail:
        nts = None if self.nts is None else self.nts.state()
        return ServerDetail(
            server=self.name,
            reach=f"{self.reach:03o}",
            polls=self.polls,
            accepted=self.accepted,
            selected=self.selected,
            last_offset_ms=None if self.last_offset is None else round(self.last_offset * 1e3, 6),
            last_delay_ms=None if self.last_delay is None else round(self.last_delay * 1e3, 6),
            jitter_ms=round(self.jitter * 1e3, 6),
            rejects=dict(self.rejects),
            last_error=self.last_error,
            nts=nts is not None,
            authenticated=self.authenticated,
            timestamping=self.timestamping,
            nts_cookies=None if nts is None else nts.cookies,
            nts_key_exchanges=None if nts is None else nts.key_exchanges,
            nts_last_ke_unix_s=None if nts is None else nts.last_ke_unix_s,
            nts_last_ke_ms=None if nts is None else nts.last_ke_ms,
            ntp_address=None if nts is None else nts.ntp_address,
        )

    @classmethod
    def from_entry(cls, entry: NtpServer) -> ServerState:
        port = entry.port or DEFAULT_NTP_PORT
        if not entry.nts:
            return cls(entry.name, entry.host, port)
        session = NtsSession(entry.name, entry.host, entry.port, entry.nts_ke_port, entry.ca_file)
        return cls(entry.name, entry.host, port, nts=session)


class Measurer:
    """The servers of a config, polled on a schedule: a burst at start and after a clock step,
    then the warm-up interval, then the normal one."""

    def __init__(
        self,
        cfg: ChronoTickConfig,
        clock: ClockSource,
        query_fn: QueryFn,
        stop: threading.Event,
        start_ns: int,
    ):
        self.cfg = cfg
        self.clock = clock
        self.query_fn = query_fn
        self._stop = stop
        ntp = cfg.clock_measurement.ntp
        self.servers = {e.name: ServerState.from_entry(e) for e in ntp.entries()}
        self.rounds = 0
        nts = sum(s.nts is not None for s in self.servers.values())
        if 0 < nts <= len(self.servers) - nts:
            log.warning(
                "%d plain NTP servers beside %d NTS servers: whoever is on the network path controls "
                "the plain replies and can outvote the authenticated ones (docs/SECURITY.md)",
                len(self.servers) - nts,
                nts,
            )
        self.burst_left = ntp.burst_count
        self.interval_s = ntp.burst_interval_seconds
        self._start_ns = start_ns
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.servers)), thread_name_prefix="ntp")

    def _exchange(self, state: ServerState) -> Exchange:
        ntp = self.cfg.clock_measurement.ntp
        max_delay = 2 * ntp.max_acceptable_uncertainty
        if state.nts is not None:
            ex = state.nts.query(ntp.timeout_seconds, max_delay, self.clock)
            if not ex.authenticated:  # the session never returns one; this line keeps it so
                raise Rejected("nts_unauthenticated", "NTS server answered without authentication")
            return ex
        return self.query_fn(state.host, state.port, ntp.timeout_seconds, max_delay, self.clock)

    def _query_with_retries(self, state: ServerState) -> Exchange | None:
        ntp = self.cfg.clock_measurement.ntp
        if self.clock.monotonic_ns() < state.backoff_until_mono_ns:
            return None
        for attempt in range(ntp.retries + 1):
            try:
                return self._exchange(state)
            except Rejected as exc:
                state.record_failure(exc.reason, exc.detail)  # it prefixes the reason itself
                if exc.reason == "nts_nak" and attempt < ntp.retries:
                    continue  # the session forgot its keys: the retry runs a fresh key exchange
                if exc.reason == "kiss_of_death":
                    code = str(exc).rpartition(" ")[2]
                    pause = 3600 if code in ("DENY", "RSTR") else 4 * self.interval_s
                    state.backoff_until_mono_ns = self.clock.monotonic_ns() + int(pause * 1e9)
                    log.warning("%s sent kiss-of-death %s; pausing it for %.0f s", state.name, code, pause)
                return None
            except (TimeoutError, OSError) as exc:
                reason = "timeout" if isinstance(exc, TimeoutError) else "network_error"
                if attempt == ntp.retries:
                    state.record_failure(reason, str(exc) or reason)
                    return None
                if self._stop.wait(min(2.0, 0.25 * 2**attempt)):
                    return None
        return None

    def poll_round(self) -> list[Exchange]:
        """Every server once, concurrently: the replies that passed every check."""
        states = list(self.servers.values())
        before = [s.reachable for s in states]
        results = list(self._pool.map(self._query_with_retries, states))
        good: list[Exchange] = []
        for state, ex in zip(states, results, strict=True):
            if ex is not None:
                state.record_success(ex)
                good.append(ex)
        self.rounds += 1
        self._log_reach(states, before, good)
        return good

    def _log_reach(self, states: list[ServerState], before: list[bool], good: list[Exchange]) -> None:
        if self.rounds == 1 and not good:
            log.warning("no server answered the first round:")
            for s in states:
                log.warning("  %s: %s", s.name, s.last_error or "no answer")
            log.warning(
                "offline or firewalled? `make demo` runs against a local chronyd; --server HOST[:PORT] "
                "measures a plain NTP server you can reach; NTS needs outbound TCP 4460"
            )
            return
        for state, was in zip(states, before, strict=True):
            if state.reachable and not was:
                kind = " (NTS authenticated)" if state.authenticated else ""
                log.info("%s is reachable%s", state.name, kind)
            elif was and not state.reachable:
                log.warning("%s is unreachable: %s", state.name, state.last_error or "no answer")

    def note_selection(self, chosen: Selection) -> None:
        for ex in chosen.falsetickers:
            st = self.servers[ex.server]
            st.rejects["falseticker"] += 1
            st.last_error = f"falseticker: offset {ex.offset:+.6f} s disagrees with the majority"
            log.warning("%s excluded as a falseticker (offset %+.6f s)", ex.server, ex.offset)
        for ex in chosen.truechimers:
            self.servers[ex.server].selected += 1

    def start_burst(self) -> None:
        self.burst_left = self.cfg.clock_measurement.ntp.burst_count

    def next_interval(self) -> float:
        """The wait before the next round; also kept as `interval_s`."""
        timing = self.cfg.clock_measurement.timing
        if self.burst_left > 0:
            self.burst_left -= 1
            self.interval_s = self.cfg.clock_measurement.ntp.burst_interval_seconds
        elif (self.clock.monotonic_ns() - self._start_ns) / 1e9 < timing.warm_up.duration_seconds:
            self.interval_s = timing.warm_up.measurement_interval
        else:
            self.interval_s = timing.normal_operation.measurement_interval
        return self.interval_s

    def details(self) -> list[ServerDetail]:
        return [s.detail() for s in self.servers.values()]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
