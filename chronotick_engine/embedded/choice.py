"""Which engine serves a reading: a live daemon's segment, or the in-process engine.

`auto` reads the segment while a live daemon publishes it and the in-process engine otherwise
(started on first need), so a daemon that appears later is preferred from then on, and a dead
daemon's segment is never served as current. `daemon` is the segment only; `embedded` the
in-process engine only. Every reader (the MCP tools, the Python client) goes through serve().
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from chronotick_engine.client import ChronoTickClient
from chronotick_engine.errors import ChronoTickError, ConfigError
from chronotick_engine.protocol.paths import default_path

if TYPE_CHECKING:
    from chronotick_engine.config import ChronoTickConfig
    from chronotick_engine.embedded.engine import EmbeddedEngine

EngineMode = Literal["auto", "daemon", "embedded"]
ENGINE_MODES: tuple[str, ...] = get_args(EngineMode)
# The in-process engine's config file when none is given (an MCP client's env, e.g. the
# Inspector's -e or `claude mcp add -e`); like --config, laid over the shipped default.
CONFIG_ENV = "CHRONOTICK_CONFIG"
DEFAULT_SYNC_WAIT_S = 5.0
MAX_SYNC_WAIT_S = 60.0
_WAIT_STEP_S = 0.02


@dataclass(frozen=True)
class Served:
    """The client to read now, and what stands behind it."""

    client: ChronoTickClient
    engine: Literal["daemon", "embedded"]
    embedded: EmbeddedEngine | None = None  # the in-process engine, when it serves


class ClockChoice:
    """The engine choice of one server or program. Cheap to build: nothing of the engine is
    imported or started until start() or the first serve() that needs it."""

    def __init__(
        self,
        mode: str = "auto",
        shm_path: str | None = None,
        config: str | Path | ChronoTickConfig | None = None,
        sync_wait: float = DEFAULT_SYNC_WAIT_S,
    ):
        if mode not in ENGINE_MODES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINE_MODES)}, not {str(mode)[:40]!r}")
        if not (isinstance(sync_wait, int | float) and math.isfinite(sync_wait)) or not (
            0 <= sync_wait <= MAX_SYNC_WAIT_S
        ):
            raise ConfigError(f"sync wait must be 0-{MAX_SYNC_WAIT_S:g} seconds")
        self.mode = mode
        self.sync_wait = float(sync_wait)
        self.segment = ChronoTickClient(shm_path or default_path())
        self._config = config_or_env(config)
        self._engine: EmbeddedEngine | None = None
        self._engine_client: ChronoTickClient | None = None
        self._lock = threading.Lock()
        if self._config is not None and mode != "daemon":
            self.engine()  # a bad --config is refused at start, in one line, not at the first call

    def engine(self) -> EmbeddedEngine:
        """The in-process engine (built, not started, on first need)."""
        with self._lock:
            if self._engine is None:
                from chronotick_engine.embedded.engine import EmbeddedEngine

                self._engine = EmbeddedEngine(self._config)
            return self._engine

    def daemon_live(self) -> bool:
        """A daemon publishes the segment now (fresh heartbeat, not stopped)."""
        try:
            return self.segment.daemon_running()
        except ChronoTickError:
            return False

    def start(self) -> None:
        """Start the in-process engine in the background where it will serve, so that the first
        call does not wait for its start. Returns at once."""
        if self.mode == "embedded" or (self.mode == "auto" and not self.daemon_live()):
            self.engine().start()

    def serve(self) -> Served:
        if self.mode == "daemon" or (self.mode == "auto" and self.daemon_live()):
            return Served(self.segment, "daemon")
        engine = self.engine().start()
        if self._engine_client is None:
            self._engine_client = engine.client()
        return Served(self._engine_client, "embedded", engine)

    def _must_wait(self, served: Served) -> bool:
        """Before its first SYNCHRONIZED, the in-process engine is waited for, but only until
        sync_wait seconds after it started: later calls answer at once, synchronised or not."""
        eng = served.embedded
        return eng is not None and not eng.synchronized() and eng.age_s() < self.sync_wait

    async def settle(self) -> Served:
        """serve(), after waiting (without blocking the event loop) for a starting engine."""
        import asyncio  # the transports have it loaded; a program that reads the clock need not

        served = self.serve()
        while self._must_wait(served):
            await asyncio.sleep(_WAIT_STEP_S)
            served = self.serve()
        return served

    def settle_blocking(self) -> Served:
        """settle() for callers without an event loop."""
        served = self.serve()
        while self._must_wait(served):
            time.sleep(_WAIT_STEP_S)
            served = self.serve()
        return served

    def close(self) -> None:
        self.segment.close()
        if self._engine is not None:
            self._engine.stop()


def config_or_env(config: str | Path | ChronoTickConfig | None) -> str | Path | ChronoTickConfig | None:
    return config if config is not None else os.environ.get(CONFIG_ENV) or None


class EmbeddedClient(ChronoTickClient):
    """A ChronoTickClient over its own in-process engine, which close() stops."""

    def __init__(self, config: str | Path | ChronoTickConfig | None = None):
        from chronotick_engine.embedded.engine import EmbeddedEngine

        self.engine = EmbeddedEngine(config_or_env(config)).start()
        super().__init__(reader=self.engine.segment)

    def close(self) -> None:
        super().close()
        self.engine.stop()


def open_client(
    engine: str = "auto", *, shm_path: str | None = None, config: str | Path | ChronoTickConfig | None = None
) -> ChronoTickClient:
    """A client in one call: `daemon` reads the segment; `embedded` runs the engine in this process
    (the shipped config, or `config` laid over it); `auto` reads a live daemon's segment when one
    publishes now, else runs the engine. Readings, statuses and errors are the same either way."""
    choice = ClockChoice(engine, shm_path, None)
    if choice.mode == "daemon" or (choice.mode == "auto" and choice.daemon_live()):
        return choice.segment
    return EmbeddedClient(config)
