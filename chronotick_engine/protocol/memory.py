"""A v1 segment held in this process's memory: the in-process engine's writer and its readers.

The bytes are the same 128-byte image the shared-memory segment carries, encoded and decoded by the
same codec, so a client reading an in-process engine gets the same snapshots, statuses and errors
as one reading a daemon's segment. Nothing touches the file system: the embedded engine runs where
there is no /dev/shm, no root and no Linux.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chronotick_engine.errors import SegmentError
from chronotick_engine.protocol.codec import (
    BODY_OFFSET,
    CRC,
    HEADER,
    MAGIC,
    SEGMENT_SIZE,
    SEQ,
    VERSION,
    Snapshot,
    Status,
    checksum,
    decode,
)
from chronotick_engine.protocol.detail import DaemonDetail
from chronotick_engine.protocol.writer import SnapshotWriter


class MemorySegment(SnapshotWriter):
    """Writer and reader of one in-memory image. A write replaces the whole image with one reference
    store, which is atomic under the interpreter's lock, so a reader never sees half of one: the
    seqlock the shared segment needs across processes is not needed here, but its sequence and
    checksum are kept so that decode() validates exactly what it validates for a file."""

    def __init__(self, label: str = "embedded", detail: Callable[[], DaemonDetail | None] | None = None):
        super().__init__()
        self.path = label  # how errors name it, as a segment reader names its file
        self._image: bytes | None = None
        self._decoded: tuple[bytes, Snapshot] | None = None
        self._detail = detail
        # CLOCK_MONOTONIC of the first image that said SYNCHRONIZED: the engine's time to sync.
        self.synchronized_at_ns: int | None = None

    # writer ----------------------------------------------------------------------------------------

    def _write(self, body: bytes) -> None:
        self._seq += 2
        seq = SEQ.pack(self._seq)
        self._image = (
            HEADER.pack(MAGIC, VERSION, SEGMENT_SIZE, self._seq) + CRC.pack(checksum(seq, body)) + body
        )
        if self.synchronized_at_ns is None and body[0] == Status.SYNCHRONIZED:
            self.synchronized_at_ns = time.monotonic_ns()

    def latest_status(self) -> Status | None:
        """The status the writer last published (not judged for freshness: the writer is here)."""
        image = self._image
        return None if image is None else Status(image[BODY_OFFSET])

    # reader: SegmentReader's interface -------------------------------------------------------------

    def read(self) -> Snapshot:
        image = self._image
        if image is None:
            raise SegmentError(f"the {self.path} engine has not published yet; it is starting")
        cached = self._decoded
        if cached is not None and cached[0] is image:
            return cached[1]
        snap = decode(image, self.path)
        self._decoded = (image, snap)
        return snap

    def remap_if_replaced(self) -> bool:
        return False

    def detail(self) -> DaemonDetail | None:
        return None if self._detail is None else self._detail()

    def close(self) -> None:
        """Readers share the engine's image: closing a reader leaves it to the engine."""
