"""The daemon's own measurement and model, driven inside this process: time with no daemon to run.

The engine is the real Daemon (NTS, selection, the classical bank, the status machine) publishing
into a MemorySegment instead of a file. A ChronoTickClient over that segment reads the same images
with the same codec as one over a daemon's segment, so its readings, statuses and errors are the
same. It needs no root, no /dev/shm and no Linux-only call.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from chronotick_engine.client import ChronoTickClient
from chronotick_engine.protocol.codec import Status, empty_snapshot
from chronotick_engine.protocol.detail import DaemonDetail
from chronotick_engine.protocol.memory import MemorySegment

if TYPE_CHECKING:
    from chronotick_engine.config import ChronoTickConfig
    from chronotick_engine.daemon import Daemon

log = logging.getLogger("chronotick.embedded")

LABEL = "embedded"
# Readers of an in-process engine compute the time themselves from its model; the publish rate
# only sets how soon a stalled engine stops looking fresh. 10 Hz keeps an idle host's cost near zero.
EMBEDDED_MAX_FREQ_HZ = 10.0


def embedded_config(config: str | Path | ChronoTickConfig | None) -> ChronoTickConfig:
    """The engine's config: the shipped default, or a file laid over it by the daemon's own merge
    rules (ConfigError, one line, on a bad one), publishing at most EMBEDDED_MAX_FREQ_HZ."""
    from chronotick_engine.config import ChronoTickConfig, load_config, parse_config

    cfg = config if isinstance(config, ChronoTickConfig) else load_config(config)
    if cfg.daemon.freq_hz <= EMBEDDED_MAX_FREQ_HZ:
        return cfg
    data = cfg.model_dump()
    data["daemon"]["freq_hz"] = EMBEDDED_MAX_FREQ_HZ
    return parse_config(data, "embedded engine")


class EmbeddedEngine:
    """One in-process engine. start() is idempotent and returns at once: the engine's imports, its
    construction, measurement and publication all happen on a daemon thread, which ends with the
    process or at stop(). Until its first tick, readers find an image with no estimate."""

    def __init__(self, config: str | Path | ChronoTickConfig | None = None):
        """A config given here is validated now (ConfigError, one line); the shipped default is
        loaded on the engine's own thread, so that building an engine costs nothing."""
        self.cfg: ChronoTickConfig | None = None if config is None else embedded_config(config)
        self._daemon: Daemon | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self.segment = MemorySegment(LABEL, self.detail)
        self.started_mono_ns: int | None = None

    def start(self) -> EmbeddedEngine:
        with self._lock:
            if self._thread is None:
                self.started_mono_ns = now = time.monotonic_ns()
                # Readers find an image from the first instant, as in a daemon's new segment.
                self.segment.publish(empty_snapshot(self.segment.generation, now, time.time_ns()))
                self._thread = threading.Thread(target=self._run, name="chronotick-engine", daemon=True)
                self._thread.start()
        return self

    def _run(self) -> None:
        try:
            cfg = self.cfg = self.cfg or embedded_config(None)
            from chronotick_engine.daemon import Daemon  # numpy, the model, NTS: off the caller's thread

            self._daemon = daemon = Daemon(cfg, sidecar=False)
            if self._stopping:
                return
            daemon.start_forecasters()
            servers = ", ".join(
                e.name + (" (NTS)" if e.nts else "") for e in cfg.clock_measurement.ntp.entries()
            )
            log.info("embedded engine started; servers: %s", servers)
            daemon.run(self.segment)
        except Exception:  # no heartbeat follows, so readers see the estimate age out
            log.exception("embedded engine stopped")

    @property
    def started(self) -> bool:
        return self._thread is not None

    def age_s(self) -> float:
        """Seconds since start() (0 before it)."""
        start = self.started_mono_ns
        return 0.0 if start is None else (time.monotonic_ns() - start) / 1e9

    def seconds_to_sync(self) -> float | None:
        """How long after start() the engine first published SYNCHRONIZED; None while it has not."""
        at, start = self.segment.synchronized_at_ns, self.started_mono_ns
        return None if at is None or start is None else round((at - start) / 1e9, 3)

    def synchronized(self) -> bool:
        return self.segment.latest_status() is Status.SYNCHRONIZED

    def detail(self) -> DaemonDetail | None:
        """The same detail a daemon writes to its sidecar, taken from the running engine."""
        daemon = self._daemon
        return None if daemon is None else daemon.detail()

    def client(self) -> ChronoTickClient:
        """A client over this engine (starting it): the same interface as over a segment."""
        return ChronoTickClient(reader=self.start().segment)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        daemon, thread = self._daemon, self._thread
        if daemon is not None:
            daemon.stop()
        if thread is not None:
            thread.join(timeout)
