"""ChronoTick engine: NTP measurement, clock model, shared-memory publication and the client."""

from chronotick_engine.client import ChronoTickClient, DaemonInfo, TimeReading
from chronotick_engine.errors import ChronoTickError, ConfigError, NotReadyError, PublisherError, SegmentError
from chronotick_engine.protocol.codec import Source, Status
from chronotick_engine.protocol.paths import DEFAULT_PATH, PATH_ENV, default_path, detail_path

__all__ = [
    "DEFAULT_PATH",
    "PATH_ENV",
    "ChronoTickClient",
    "ChronoTickError",
    "ConfigError",
    "DaemonInfo",
    "NotReadyError",
    "PublisherError",
    "SegmentError",
    "Source",
    "Status",
    "TimeReading",
    "default_path",
    "detail_path",
]
