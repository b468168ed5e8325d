"""Time without a daemon: the daemon's engine run in this process, and the choice between it and a
daemon's segment (`--engine auto|daemon|embedded`). Composed above the daemon and the client;
neither imports it."""

from chronotick_engine.embedded.choice import ClockChoice, EmbeddedClient, EngineMode, Served, open_client
from chronotick_engine.embedded.engine import EmbeddedEngine

__all__ = ["ClockChoice", "EmbeddedClient", "EmbeddedEngine", "EngineMode", "Served", "open_client"]
