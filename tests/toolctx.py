"""An in-memory ToolContext: the tools read a fixed corrected now (or none), with no segment."""

from __future__ import annotations

from dataclasses import dataclass

from chronotick_engine.client import TimeReading
from chronotick_engine.embedded import Served
from chronotick_mcp.clock import Now, ToolContext


@dataclass
class FixedContext(ToolContext):
    """`now` Unix seconds with a 95% half-width `half_s`; no estimate at all when `verified` is off."""

    now_unix: float = 0.0
    half_s: float = 0.001
    verified: bool = True

    def now(self, horizon: float = 0.0) -> Now:
        served = Served(client=None, engine="daemon")  # type: ignore[arg-type]
        t = self.now_unix + horizon
        if not self.verified:
            return Now(served, None, t, "no time server answered yet: test")
        reading = TimeReading(
            corrected_timestamp=t,
            corrected_ns=round(t * 1e9),
            system_timestamp=t,
            uncertainty_seconds=self.half_s,
            earliest=t - self.half_s,
            latest=t + self.half_s,
            confidence=0.95,
            source="classical",
            status="SYNCHRONIZED",
            offset_correction=0.0,
            drift_rate=0.0,
            seconds_since_ntp=1.0,
        )
        return Now(served, reading, t)


def context(now_iso: str, half_s: float = 0.001, verified: bool = True, zone: str = "UTC") -> FixedContext:
    from datetime import datetime

    return FixedContext(
        clock=None,  # type: ignore[arg-type]
        local_zone=zone,
        now_unix=datetime.fromisoformat(now_iso).timestamp(),
        half_s=half_s,
        verified=verified,
    )
