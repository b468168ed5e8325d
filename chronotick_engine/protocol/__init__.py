"""The contract between the daemon and its readers: the v1 segment (codec, writer, reader), the
status sidecar and the paths of both. docs/PROTOCOL.md documents it byte by byte."""

from chronotick_engine.protocol.codec import (
    SEGMENT_SIZE,
    Flag,
    Snapshot,
    Source,
    Status,
    decode,
    empty_snapshot,
    encode,
)
from chronotick_engine.protocol.detail import DaemonDetail, ModelsDetail, PublishDetail, ServerDetail
from chronotick_engine.protocol.paths import DEFAULT_PATH, PATH_ENV, default_path, detail_path, lock_path
from chronotick_engine.protocol.reader import SegmentReader
from chronotick_engine.protocol.writer import Publisher

__all__ = [
    "DEFAULT_PATH",
    "PATH_ENV",
    "SEGMENT_SIZE",
    "DaemonDetail",
    "Flag",
    "ModelsDetail",
    "Publisher",
    "PublishDetail",
    "SegmentReader",
    "ServerDetail",
    "Snapshot",
    "Source",
    "Status",
    "decode",
    "default_path",
    "empty_snapshot",
    "detail_path",
    "encode",
    "lock_path",
]
