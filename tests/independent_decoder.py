"""A second reader of the v1 segment, written from docs/PROTOCOL.md alone (no codec import)."""

from __future__ import annotations

import struct
import zlib


def decode_v1(buf: bytes) -> dict | None:
    """Field dict of a consistent v1 image, or None when it is not one."""
    if len(buf) != 128 or buf[0:4] != b"CTCK":
        return None
    version, size = struct.unpack_from("<HH", buf, 4)
    (seq,) = struct.unpack_from("<Q", buf, 8)
    (crc,) = struct.unpack_from("<I", buf, 16)
    if version != 1 or size != 128 or seq == 0 or seq % 2:
        return None
    if zlib.crc32(buf[20:128], zlib.crc32(buf[8:16])) != crc:
        return None
    u8 = lambda o: buf[o]  # noqa: E731
    u16 = lambda o: struct.unpack_from("<H", buf, o)[0]  # noqa: E731
    u32 = lambda o: struct.unpack_from("<I", buf, o)[0]  # noqa: E731
    u64 = lambda o: struct.unpack_from("<Q", buf, o)[0]  # noqa: E731
    i64 = lambda o: struct.unpack_from("<q", buf, o)[0]  # noqa: E731
    f64 = lambda o: struct.unpack_from("<d", buf, o)[0]  # noqa: E731
    f32 = lambda o: struct.unpack_from("<f", buf, o)[0]  # noqa: E731
    return {
        "seq": seq,
        "status": u8(20),
        "source": u8(21),
        "flags": u16(22),
        "generation": u64(24),
        "anchor_mono_ns": i64(32),
        "anchor_real_ns": i64(40),
        "offset_s": f64(48),
        "drift": f64(56),
        "offset_unc_s": f32(64),
        "drift_unc": f32(68),
        "max_drift_rate": f32(72),
        "confidence": f32(76),
        "void_after_mono_ns": i64(80),
        "last_publish_mono_ns": i64(88),
        "last_ntp_mono_ns": i64(96),
        "daemon_start_mono_ns": i64(104),
        "publish_count": u64(112),
        "sample_count": u32(120),
        "publish_rate_hz": u16(124) / 10,
        "avg_latency_ms": u16(126) / 1000,
    }
