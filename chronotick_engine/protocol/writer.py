"""The segment's only writer: owns a path, publishes snapshots with the seqlock of docs/PROTOCOL.md."""

from __future__ import annotations

import contextlib
import mmap
import os
import time
from collections.abc import Callable

from chronotick_engine.errors import PublisherError, SegmentError
from chronotick_engine.protocol.codec import (
    BODY,
    CRC,
    CRC_OFFSET,
    HEADER,
    MAGIC,
    SEGMENT_SIZE,
    SEQ,
    SEQ_OFFSET,
    U32_MAX,
    VERSION,
    Snapshot,
    checksum,
    clamp,
    decode,
    empty_snapshot,
    encode,
    encode_body,
    model_fields,
    rate_latency_fields,
)
from chronotick_engine.protocol.paths import DEFAULT_PATH
from chronotick_engine.protocol.segment_file import SegmentFile


def _new_generation() -> int:
    return int.from_bytes(os.urandom(8), "little") | 1  # never 0: 0 means "no writer yet"


class SnapshotWriter:
    """What every writer of a v1 image does, wherever the bytes live: stamps its generation, counts
    the sequence, and packs heartbeat ticks cheaply. Subclasses store the bytes (_write)."""

    def __init__(self) -> None:
        self.generation = _new_generation()
        self._seq = 0
        # What the previous writer left (None for a new or unreadable segment): a restarted
        # daemon may serve it until it has an estimate of its own.
        self.previous: Snapshot | None = None
        self._heartbeat_base: Snapshot | None = None
        self._heartbeat_model: tuple = ()
        self._heartbeat_mid: tuple = ()
        self._heartbeat_samples = 0

    def publish(self, snapshot: Snapshot) -> None:
        """Seqlock write: odd sequence, body and checksum, then the next even sequence."""
        self._write(encode_body(snapshot, self.generation))

    def publish_heartbeat(
        self,
        base: Snapshot,
        now_mono_ns: int,
        void_after_mono_ns: int,
        publish_count: int,
        publish_rate_hz: float,
        avg_latency_ms: float,
    ) -> None:
        """Publish `base` with this tick's heartbeat fields, as publish() would a copy of it.

        The daemon's publish loop runs this 100-1000 times a second while the model changes every
        few seconds: it re-packs the model fields only when handed a different `base`. On a cold
        cache a wake-up's work is what costs the daemon its CPU share.
        """
        if base is not self._heartbeat_base:
            self._heartbeat_base = base
            # encode_body's order, split around the heartbeat fields (a test holds them equal)
            self._heartbeat_model = model_fields(base, self.generation)
            self._heartbeat_mid = (base.last_ntp_mono_ns, base.daemon_start_mono_ns)
            self._heartbeat_samples = clamp(base.sample_count, U32_MAX)
        self._write(
            BODY.pack(
                *self._heartbeat_model,
                void_after_mono_ns,
                now_mono_ns,
                *self._heartbeat_mid,
                publish_count,
                self._heartbeat_samples,
                *rate_latency_fields(publish_rate_hz, avg_latency_ms),
            )
        )

    def _write(self, body: bytes) -> None:
        raise NotImplementedError


class Publisher(SnapshotWriter):
    """The only writer of a segment path (protocol/segment_file.py: locked, reused in place so
    that clients that mapped it carry on, else replaced whole)."""

    def __init__(self, path: str = DEFAULT_PATH, *, mode: int = 0o644, group: str | int | None = None):
        super().__init__()
        self.path = path
        header = HEADER.pack(MAGIC, VERSION, SEGMENT_SIZE, 0)[:8]

        def initial() -> bytes:
            return encode(empty_snapshot(self.generation, time.monotonic_ns(), time.time_ns()), seq=2)

        self._file = SegmentFile(
            path,
            SEGMENT_SIZE,
            mode=mode,
            group=group,
            reusable=lambda image: image[:8] == header,
            initial=initial,
        )
        self._mm = self._file.mm
        assert self._mm is not None
        self._seq = SEQ.unpack_from(self._mm, SEQ_OFFSET)[0] & ~1
        # While a C heartbeat thread publishes (native_heartbeat.py), every write goes through it,
        # under its lock and its sequence count.
        self._diverted: Callable[[bytes], None] | None = None
        with contextlib.suppress(SegmentError):
            self.previous = decode(bytes(self._mm), path)

    @property
    def mapping(self) -> mmap.mmap:
        if self._mm is None:
            raise PublisherError("publisher is closed")
        return self._mm

    @property
    def sequence(self) -> int:
        """The last published sequence number (even)."""
        return self._seq

    def divert(self, write: Callable[[bytes], None] | None, sequence: int | None = None) -> None:
        """Send writes to `write` (a C writer of the same mapping) until divert(None, its last sequence)."""
        self._diverted = write
        if sequence is not None:
            self._seq = sequence

    def _write(self, body: bytes) -> None:
        if self._diverted is not None:
            self._diverted(body)
            return
        mm = self._mm
        if mm is None:
            raise PublisherError("publisher is closed")
        self._seq += 2
        final = SEQ.pack(self._seq)
        mm[SEQ_OFFSET:CRC_OFFSET] = SEQ.pack(self._seq - 1)
        mm[CRC_OFFSET:SEGMENT_SIZE] = CRC.pack(checksum(final, body)) + body
        mm[SEQ_OFFSET:CRC_OFFSET] = final

    def close(self) -> None:
        """Unmap and release the writer lock. The segment itself stays for clients and the next daemon."""
        self._mm = None
        self._file.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
