"""AWS ClockBound's shared-memory protocol, version 2 (its docs/PROTOCOL.md), which ClockBound's
Rust, C, Go and Python clients read, and which YugabyteDB's `clockbound` time source consumes.

The daemon writes it beside its own segment when `clockbound.path` is set, so those clients get
ChronoTick's hard bound (docs/PROTOCOL.md, "The ClockBound-compatible segment"):

    offset  size  field
      0      8    magic "AMZNCB\\x02\\x00"
      8      4    u32 segment size (80)
     12      2    u16 version (2)
     14      2    u16 generation: odd while writing; even after; wraps to 2, never 0
     16     16    as-of: CLOCK_MONOTONIC_COARSE timespec (i64 s, i64 ns)
     32     16    void-after: CLOCK_MONOTONIC_COARSE timespec
     48      8    i64 bound: ns of |CLOCK_REALTIME - true time| at as-of, at most
     56      8    u64 disruption marker
     64      4    u32 max drift, ppb: how fast the bound grows after as-of
     68      4    i32 clock status: 0 Unknown, 1 Synchronized, 2 FreeRunning, 3 Disrupted
     72      1    u8 clock disruption support (0)
     73      7    padding

Native byte order, as ClockBound's is (little endian on x86_64 and Graviton).
"""

from __future__ import annotations

import enum
import struct
import sys
import time
from dataclasses import dataclass

from chronotick_engine.protocol.codec import Status
from chronotick_engine.protocol.segment_file import SegmentFile

MAGIC = b"AMZNCB\x02\x00"
VERSION = 2
SIZE = 80
DEFAULT_PATH = "/var/run/clockbound/shm0"
_ORDER = "<" if sys.byteorder == "little" else ">"
HEADER = struct.Struct(_ORDER + "8sIHH")
GENERATION = struct.Struct(_ORDER + "H")
GENERATION_OFFSET = 14
BODY = struct.Struct(_ORDER + "qqqqqQIiB7x")
BODY_OFFSET = 16
assert HEADER.size == 16 and BODY_OFFSET + BODY.size == SIZE
U32_MAX = 0xFFFF_FFFF
I64_MAX = (1 << 63) - 1


class ClockStatus(enum.IntEnum):
    UNKNOWN = 0
    SYNCHRONIZED = 1
    FREE_RUNNING = 2
    DISRUPTED = 3


def clock_status(status: Status) -> ClockStatus:
    """ChronoTick's status in ClockBound's terms: WARMING_UP, STOPPED and the rest are Unknown."""
    return {
        Status.SYNCHRONIZED: ClockStatus.SYNCHRONIZED,
        Status.FREE_RUNNING: ClockStatus.FREE_RUNNING,
        Status.DISRUPTED: ClockStatus.DISRUPTED,
    }.get(status, ClockStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class ClockBoundRecord:
    """One update: every field of the body, in ClockBound's units."""

    as_of_ns: int  # CLOCK_MONOTONIC_COARSE
    void_after_ns: int  # CLOCK_MONOTONIC_COARSE
    bound_ns: int
    max_drift_ppb: int
    status: ClockStatus
    disruption_marker: int = 0
    disruption_support: bool = False


def encode_body(r: ClockBoundRecord) -> bytes:
    return BODY.pack(
        r.as_of_ns // 1_000_000_000,
        r.as_of_ns % 1_000_000_000,
        r.void_after_ns // 1_000_000_000,
        r.void_after_ns % 1_000_000_000,
        min(max(r.bound_ns, 0), I64_MAX),
        r.disruption_marker,
        min(max(r.max_drift_ppb, 0), U32_MAX),
        int(r.status),
        int(r.disruption_support),
    )


def decode(image: bytes) -> tuple[int, ClockBoundRecord]:
    """(generation, record) of an 80-byte image; ValueError names what is wrong."""
    if len(image) < SIZE:
        raise ValueError(f"a ClockBound v2 segment is {SIZE} bytes, got {len(image)}")
    magic, size, version, generation = HEADER.unpack_from(image, 0)
    if magic != MAGIC or size != SIZE or version != VERSION:
        raise ValueError("not a ClockBound v2 segment (magic, size or version)")
    a_s, a_ns, v_s, v_ns, bound, marker, drift, status, support = BODY.unpack_from(image, BODY_OFFSET)
    record = ClockBoundRecord(
        as_of_ns=a_s * 1_000_000_000 + a_ns,
        void_after_ns=v_s * 1_000_000_000 + v_ns,
        bound_ns=bound,
        max_drift_ppb=drift,
        status=ClockStatus(status),
        disruption_marker=marker,
        disruption_support=bool(support),
    )
    return generation, record


# Python's time module does not name it; Linux numbers it 6. Elsewhere CLOCK_MONOTONIC: the same
# clock, read more finely.
_COARSE = getattr(
    time, "CLOCK_MONOTONIC_COARSE", 6 if sys.platform.startswith("linux") else time.CLOCK_MONOTONIC
)


def coarse_monotonic_ns() -> int:
    """CLOCK_MONOTONIC_COARSE, the clock ClockBound's as-of and void-after are on."""
    return time.clock_gettime_ns(_COARSE)


class ClockBoundWriter:
    """The only writer of a ClockBound v2 segment, under the same file rules as ChronoTick's own
    (protocol/segment_file.py). A segment left by an earlier run is reused in place with its
    generation carried on, so clients that mapped it see the new daemon's updates."""

    def __init__(self, path: str = DEFAULT_PATH, *, mode: int = 0o644, group: str | int | None = None):
        self.path = path
        blank = HEADER.pack(MAGIC, SIZE, VERSION, 0) + bytes(SIZE - HEADER.size)
        self._file = SegmentFile(
            path,
            SIZE,
            mode=mode,
            group=group,
            reusable=lambda image: image[:14] == blank[:14],
            initial=lambda: blank,
        )
        assert self._file.mm is not None
        self._mm = self._file.mm
        self.generation = GENERATION.unpack_from(self._mm, GENERATION_OFFSET)[0] & ~1

    def write(self, record: ClockBoundRecord) -> None:
        """ClockBound's seqlock: an odd generation, the body, then the next even one (2 after a wrap)."""
        mm = self._mm
        odd = (self.generation + 1) & 0xFFFF
        even = (self.generation + 2) & 0xFFFF or 2
        mm[GENERATION_OFFSET:BODY_OFFSET] = GENERATION.pack(odd)
        mm[BODY_OFFSET:SIZE] = encode_body(record)
        mm[GENERATION_OFFSET:BODY_OFFSET] = GENERATION.pack(even)
        self.generation = even

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ClockBoundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
