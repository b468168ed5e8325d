"""Where the segment and its sidecar live: the default path, its environment variable, and the
names derived from a segment path. Nothing here knows the segment's bytes."""

from __future__ import annotations

import os

DEFAULT_PATH = "/dev/shm/chronotick_shm"
PATH_ENV = "CHRONOTICK_SHM_PATH"
# "1": the pure-Python reader and writer, never their C fast paths (the references they are held to).
PURE_PYTHON_ENV = "CHRONOTICK_PURE_PYTHON"


def default_path() -> str:
    """The segment path clients use unless told otherwise: $CHRONOTICK_SHM_PATH or DEFAULT_PATH."""
    return os.environ.get(PATH_ENV) or DEFAULT_PATH


def detail_path(segment_path: str) -> str:
    """The daemon's status sidecar (docs/PROTOCOL.md, "The status sidecar") beside its segment."""
    return segment_path + ".json"


def lock_path(segment_path: str) -> str:
    """The writer's lock file: one live publisher per segment path."""
    return segment_path + ".lock"
