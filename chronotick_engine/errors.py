"""The exceptions ChronoTick raises to its users. Each message is one line that says what to do."""


class ChronoTickError(Exception):
    """Base of every ChronoTick error."""


class SegmentError(ChronoTickError):
    """The shared-memory segment is missing, foreign, incompatible or never consistent."""


class NotReadyError(ChronoTickError):
    """The daemon publishes no usable estimate: none yet, or its data is void."""


class PublisherError(ChronoTickError):
    """The daemon cannot own the segment path (another writer, foreign owner, symlink, ...)."""


class ConfigError(ChronoTickError):
    """The configuration file or command-line options are invalid."""


class ForecastBackendError(ChronoTickError):
    """A TimesFM checkpoint or its runtime (torch, timesfm) cannot be loaded or run."""


QUOTE_LIMIT = 80


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`value` as an error message quotes it: repr'd, at most `limit` characters of it, and its
    length when cut, so that a 1 MB argument never comes back as a 1 MB error."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(text) if isinstance(value, str) else text
    return f"{text[:limit]!r}… ({len(text)} characters)"
