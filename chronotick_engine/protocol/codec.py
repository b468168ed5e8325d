"""The ChronoTick segment codec, protocol v1: the one definition of the 128 bytes that the writer
and the reader share.

Byte-by-byte layout and the read/write protocol are documented in docs/PROTOCOL.md; any change
here must change that document and the independent decoder in tests/independent_decoder.py.
"""

from __future__ import annotations

import enum
import math
import struct
import zlib
from dataclasses import dataclass

from chronotick_engine.errors import SegmentError

SEGMENT_SIZE = 128
MAGIC = b"CTCK"
VERSION = 1

HEADER = struct.Struct("<4sHHQ")  # magic, version, size, seq
SEQ_OFFSET = 8
CRC_OFFSET = 16
BODY_OFFSET = 20
CRC = struct.Struct("<I")
BODY = struct.Struct("<BBHQqqddffffqqqqQIHH")
SEQ = struct.Struct("<Q")
assert HEADER.size == 16 and BODY_OFFSET + BODY.size == SEGMENT_SIZE

U16_MAX = 0xFFFF
U32_MAX = 0xFFFF_FFFF


class Status(enum.IntEnum):
    UNKNOWN = 0
    WARMING_UP = 1
    SYNCHRONIZED = 2
    FREE_RUNNING = 3
    DISRUPTED = 4
    # Derived by readers only, never published: a daemon that stopped (or died) before it ever had
    # an estimate. Told apart from UNKNOWN so that nobody is told to wait for a dead daemon.
    STOPPED = 5


class Source(enum.IntEnum):
    NONE = 0
    NTP = 1
    CLASSICAL = 2
    FUSED = 3


class Flag(enum.IntFlag):
    NTP_READY = 1
    MODELS_READY = 2
    STOPPED = 4


_KNOWN_FLAGS = int(Flag.NTP_READY | Flag.MODELS_READY | Flag.STOPPED)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One decoded segment. Times ending in _mono_ns are CLOCK_MONOTONIC, _real_ns CLOCK_REALTIME."""

    generation: int
    status: Status
    source: Source
    flags: Flag
    anchor_mono_ns: int
    anchor_real_ns: int
    offset_s: float
    drift: float
    offset_unc_s: float
    drift_unc: float
    max_drift_rate: float
    confidence: float
    void_after_mono_ns: int
    last_publish_mono_ns: int
    last_ntp_mono_ns: int
    daemon_start_mono_ns: int
    publish_count: int
    sample_count: int
    publish_rate_hz: float
    avg_latency_ms: float
    seq: int = 0

    @property
    def ntp_ready(self) -> bool:
        return bool(self.flags & Flag.NTP_READY)

    @property
    def models_ready(self) -> bool:
        return bool(self.flags & Flag.MODELS_READY)

    @property
    def stopped(self) -> bool:
        return bool(self.flags & Flag.STOPPED)


def empty_snapshot(generation: int, now_mono_ns: int, now_real_ns: int) -> Snapshot:
    """What a writer publishes before it has any estimate: no source, status UNKNOWN."""
    return Snapshot(
        generation=generation,
        status=Status.UNKNOWN,
        source=Source.NONE,
        flags=Flag(0),
        anchor_mono_ns=now_mono_ns,
        anchor_real_ns=now_real_ns,
        offset_s=0.0,
        drift=0.0,
        offset_unc_s=0.0,
        drift_unc=0.0,
        max_drift_rate=0.0,
        confidence=0.0,
        void_after_mono_ns=now_mono_ns,
        last_publish_mono_ns=now_mono_ns,
        last_ntp_mono_ns=0,
        daemon_start_mono_ns=now_mono_ns,
        publish_count=0,
        sample_count=0,
        publish_rate_hz=0.0,
        avg_latency_ms=0.0,
    )


def clamp(value: int, top: int) -> int:
    return max(0, min(top, value))


def model_fields(s: Snapshot, generation: int) -> tuple:
    """Body fields 0-11 (status through confidence): what changes only with the model or status."""
    return (
        int(s.status),
        int(s.source),
        int(s.flags),
        generation,
        s.anchor_mono_ns,
        s.anchor_real_ns,
        s.offset_s,
        s.drift,
        s.offset_unc_s,
        s.drift_unc,
        s.max_drift_rate,
        s.confidence,
    )


def rate_latency_fields(publish_rate_hz: float, avg_latency_ms: float) -> tuple[int, int]:
    """Body fields 18-19: the publish rate in 0.1 Hz and the mean latency in microseconds."""
    return clamp(round(publish_rate_hz * 10), U16_MAX), clamp(round(avg_latency_ms * 1000), U16_MAX)


def encode_body(s: Snapshot, generation: int | None = None) -> bytes:
    """The 108 body bytes; `generation` overrides the snapshot's (the publisher stamps its own)."""
    return BODY.pack(
        *model_fields(s, s.generation if generation is None else generation),
        s.void_after_mono_ns,
        s.last_publish_mono_ns,
        s.last_ntp_mono_ns,
        s.daemon_start_mono_ns,
        s.publish_count,
        clamp(s.sample_count, U32_MAX),
        *rate_latency_fields(s.publish_rate_hz, s.avg_latency_ms),
    )


def checksum(seq_bytes: bytes, body: bytes) -> int:
    """CRC-32 (IEEE, as zlib) over the 8 sequence bytes followed by the 108 body bytes."""
    return zlib.crc32(body, zlib.crc32(seq_bytes))


def encode(s: Snapshot, seq: int) -> bytes:
    """A complete, stable 128-byte image (even seq) of a snapshot."""
    if seq & 1:
        raise ValueError("a complete image needs an even sequence number")
    body = encode_body(s)
    return HEADER.pack(MAGIC, VERSION, SEGMENT_SIZE, seq) + CRC.pack(checksum(SEQ.pack(seq), body)) + body


def decode(buf: bytes, where: str = "segment") -> Snapshot:
    """Decode and fully validate one 128-byte image; raise SegmentError naming what is wrong."""
    if len(buf) != SEGMENT_SIZE:
        raise SegmentError(
            f"{where} is {len(buf)} bytes, not a ChronoTick v{VERSION} segment ({SEGMENT_SIZE} bytes)"
        )
    magic, version, size, seq = HEADER.unpack_from(buf)
    if magic != MAGIC:
        raise SegmentError(f"{where} is not a ChronoTick segment (bad magic {magic!r}); check the path")
    if version != VERSION:
        raise SegmentError(
            f"{where} uses protocol version {version}; this client reads version {VERSION}: "
            "upgrade the client or the daemon so they match"
        )
    if size != SEGMENT_SIZE:
        raise SegmentError(f"{where} declares size {size}, expected {SEGMENT_SIZE}")
    if seq == 0:
        raise SegmentError(f"{where} was never initialised by a daemon")
    if seq & 1:
        raise SegmentError(f"{where} is mid-update (odd sequence)")
    (crc,) = CRC.unpack_from(buf, CRC_OFFSET)
    if checksum(buf[SEQ_OFFSET:CRC_OFFSET], buf[BODY_OFFSET:]) != crc:
        raise SegmentError(f"{where} checksum mismatch")
    f = BODY.unpack_from(buf, BODY_OFFSET)
    try:
        status, source, flags = Status(f[0]), Source(f[1]), Flag(f[2])
        if status is Status.STOPPED:
            raise ValueError(f"{f[0]} is not a published Status")
    except ValueError as exc:
        raise SegmentError(f"{where} has an out-of-range enum field ({exc})") from None
    # On the raw integer: IntFlag's own ~ complements within the known members, so it is always 0.
    if f[2] & ~_KNOWN_FLAGS:
        raise SegmentError(f"{where} sets unknown flag bits {f[2]:#x}")
    if not all(math.isfinite(x) for x in f[6:12]) or min(f[8], f[9], f[10]) < 0:
        raise SegmentError(f"{where} holds a non-finite or negative model parameter")
    return Snapshot(
        generation=f[3],
        status=status,
        source=source,
        flags=flags,
        anchor_mono_ns=f[4],
        anchor_real_ns=f[5],
        offset_s=f[6],
        drift=f[7],
        offset_unc_s=f[8],
        drift_unc=f[9],
        max_drift_rate=f[10],
        confidence=f[11],
        void_after_mono_ns=f[12],
        last_publish_mono_ns=f[13],
        last_ntp_mono_ns=f[14],
        daemon_start_mono_ns=f[15],
        publish_count=f[16],
        sample_count=f[17],
        publish_rate_hz=f[18] / 10.0,
        avg_latency_ms=f[19] / 1000.0,
        seq=seq,
    )
