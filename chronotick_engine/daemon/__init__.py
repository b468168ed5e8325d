"""The daemon: measurement, the status machine and publication, on their own threads."""

from chronotick_engine.daemon.daemon import Daemon

__all__ = ["Daemon"]
