"""The publish ticks on a C thread: chronotick_engine._heartbeat over clients/c/chronotick_writer.h.

Python hands the thread a base image (the model's fields, packed by the Publisher's own codec) and
the rule for its void time; the thread republishes it at the asked rate with fresh heartbeat
fields, without the GIL, and only before `hold_until_ns`. The images are those the pure-Python
Publisher.publish_heartbeat writes for the same inputs, byte for byte (tests/test_heartbeat.py).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from chronotick_engine.protocol.codec import Snapshot, encode_body
from chronotick_engine.protocol.paths import PURE_PYTHON_ENV
from chronotick_engine.protocol.writer import Publisher, SnapshotWriter

try:
    from chronotick_engine import _heartbeat
except ImportError:  # built without a C compiler: the daemon publishes from Python
    _heartbeat = None


class HeartbeatStats(NamedTuple):
    count: int
    rate_hz: float
    mean_period_ns: float
    latency_ms: float
    last_ns: int
    periods: int


def native_heartbeat_available() -> bool:
    """The extension is built, and $CHRONOTICK_PURE_PYTHON is not 1."""
    return _heartbeat is not None and os.environ.get(PURE_PYTHON_ENV) != "1"


class NativeHeartbeat:
    """The C publishing thread of one Publisher. Until stop(), the Publisher's own writes go through
    it too, so that there is one sequence and one writer at a time."""

    def __init__(self, publisher: Publisher, period_ns: int, count: int):
        if _heartbeat is None:
            raise RuntimeError("chronotick_engine._heartbeat is not built")
        self.publisher = publisher
        self.scheduling = "not started"
        self._c = _heartbeat.Heartbeat(publisher.mapping, publisher.sequence, period_ns, count)
        publisher.divert(self._c.write)

    @classmethod
    def start_for(
        cls, writer: SnapshotWriter, period_ns: int, count: int, priority: int = 0
    ) -> NativeHeartbeat | None:
        """A started thread for a segment Publisher; None where the ticks stay in Python (no
        extension, CHRONOTICK_PURE_PYTHON=1, or a writer that is not a mapped segment). With
        `priority` > 0 it asks for SCHED_FIFO at that priority; `scheduling` says what it got."""
        if not (native_heartbeat_available() and isinstance(writer, Publisher)):
            return None
        heart = cls(writer, period_ns, count)
        refused = heart._c.start(priority)
        if priority <= 0:
            heart.scheduling = "normal"
        elif refused:
            heart.scheduling = f"normal (SCHED_FIFO {priority} refused: {os.strerror(refused)})"
        else:
            heart.scheduling = f"SCHED_FIFO {priority}"
        return heart

    def set_base(
        self, base: Snapshot, fixed_void_ns: int | None, void_after_ns: int, hold_until_ns: int
    ) -> None:
        """Republish `base` from the next tick: its void time is `fixed_void_ns`, or each tick's
        instant + `void_after_ns`; no tick at or after `hold_until_ns`."""
        body = encode_body(base, self.publisher.generation)
        self._c.set_base(body, fixed_void_ns, void_after_ns, hold_until_ns)

    def hold(self, until_ns: int) -> None:
        self._c.hold(until_ns)

    def tick(self, now_ns: int, void_after_ns: int, count: int, rate_hz: float, latency_ms: float) -> None:
        """One publish of the base with these heartbeat fields, as the thread makes them (for tests)."""
        self._c.tick(now_ns, void_after_ns, count, rate_hz, latency_ms)

    def stats(self) -> HeartbeatStats:
        return HeartbeatStats(*self._c.stats())

    def period_errors_ms(self) -> list[float]:
        return self._c.period_errors()

    def stop(self) -> None:
        """Stop the thread (within one period) and give the Publisher its writes back."""
        self.publisher.divert(None, self._c.stop())
