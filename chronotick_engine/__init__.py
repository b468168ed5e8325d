"""ChronoTick engine: NTP measurement, clock model, shared-memory publication and the client."""

from chronotick_engine.client import ChronoTickClient, TimeReading
from chronotick_engine.errors import ChronoTickError, ConfigError, NotReadyError, PublisherError, SegmentError
from chronotick_engine.segment import DEFAULT_PATH, Source, Status

__all__ = [
    "DEFAULT_PATH",
    "ChronoTickClient",
    "ChronoTickError",
    "ConfigError",
    "NotReadyError",
    "PublisherError",
    "SegmentError",
    "Source",
    "Status",
    "TimeReading",
]
