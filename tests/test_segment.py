"""The v1 codec: round trips, hostile bytes, and agreement with the independent decoder."""

from __future__ import annotations

import dataclasses
import os
import stat
import zlib

import pytest
from conftest import synced_snapshot
from hypothesis import given, settings
from hypothesis import strategies as st
from independent_decoder import decode_v1

from chronotick_engine.errors import PublisherError, SegmentError
from chronotick_engine.protocol import (
    SEGMENT_SIZE,
    Flag,
    Publisher,
    SegmentReader,
    Source,
    Status,
    decode,
    encode,
)


def test_round_trip_and_independent_decoder_agree():
    snap = synced_snapshot(generation=0xDEADBEEF, flags=Flag.NTP_READY | Flag.STOPPED, publish_count=77)
    image = encode(snap, seq=42)
    assert len(image) == SEGMENT_SIZE
    got = decode(image)
    assert got == dataclasses.replace(
        snap,
        seq=42,
        offset_unc_s=got.offset_unc_s,
        drift_unc=got.drift_unc,
        max_drift_rate=got.max_drift_rate,
        confidence=got.confidence,
    )
    indep = decode_v1(image)
    assert indep is not None
    for field, value in indep.items():
        ours = getattr(got, field)
        assert (int(ours) if isinstance(ours, Status | Source | Flag) else ours) == pytest.approx(value), (
            field
        )


@settings(max_examples=3000, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_random_bytes_never_crash_and_are_never_valid(data):
    with pytest.raises(SegmentError):
        decode(data)


@settings(max_examples=3000, deadline=None)
@given(st.integers(min_value=0, max_value=SEGMENT_SIZE * 8 - 1))
def test_every_single_bit_flip_is_rejected(bit):
    image = bytearray(encode(synced_snapshot(), seq=10))
    image[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(SegmentError):
        decode(bytes(image))


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=0, max_value=SEGMENT_SIZE - 1))
def test_truncated_images_are_rejected(n):
    with pytest.raises(SegmentError, match="bytes"):
        decode(encode(synced_snapshot(), seq=2)[:n])


def test_publisher_writes_what_reader_reads(shm_path):
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot(offset_s=0.25))
        reader = SegmentReader(shm_path)
        snap = reader.read()
        assert snap.offset_s == 0.25 and snap.generation == pub.generation
        with open(shm_path, "rb") as fh:
            assert decode_v1(fh.read())["offset_s"] == 0.25
        mode = stat.S_IMODE(os.stat(shm_path).st_mode)
        assert mode == 0o644


def test_second_writer_on_same_path_is_refused(shm_path):
    with Publisher(shm_path), pytest.raises(PublisherError, match="already publishing"):
        Publisher(shm_path)


def test_symlink_is_refused(shm_path, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"x")
    os.symlink(target, shm_path)
    with pytest.raises(PublisherError, match="symlink"):
        Publisher(shm_path)
    with pytest.raises(SegmentError, match="symlink"):
        SegmentReader(shm_path).read()


def test_file_owned_by_another_user_is_refused(shm_path):
    with open(shm_path, "wb") as fh:
        fh.write(bytes(SEGMENT_SIZE))
    os.chown(shm_path, 4242, 4242)
    with pytest.raises(PublisherError, match="owned by uid 4242"):
        Publisher(shm_path)


def test_restricted_mode(shm_path):
    with Publisher(shm_path, mode=0o640, group=0):
        assert stat.S_IMODE(os.stat(shm_path).st_mode) == 0o640


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"hello", "5 bytes"),
        (b"X" * 128, "bad magic"),
        (b"CTCK" + (9).to_bytes(2, "little") + bytes(122), "version 9"),
    ],
)
def test_foreign_files_get_a_named_error(shm_path, content, message):
    with open(shm_path, "wb") as fh:
        fh.write(content)
    with pytest.raises(SegmentError, match=message):
        SegmentReader(shm_path).read()


def test_missing_segment_says_what_to_do(shm_path):
    with pytest.raises(SegmentError, match="is chronotick-daemon running"):
        SegmentReader(shm_path).read()


def test_foreign_file_we_own_is_replaced_atomically(shm_path):
    with open(shm_path, "wb") as fh:
        fh.write(b"junk from the prototype")
    ino = os.stat(shm_path).st_ino
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot())
        assert os.stat(shm_path).st_ino != ino
        assert SegmentReader(shm_path).read().status is Status.SYNCHRONIZED


def test_a_segment_others_can_write_is_refused(shm_path):
    """Anyone who can write the segment can forge every reader's time."""
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot())
        os.chmod(shm_path, 0o664)
        with pytest.raises(SegmentError, match="writable by others than its owner"):
            SegmentReader(shm_path).read()
        os.chmod(shm_path, 0o644)
        assert SegmentReader(shm_path).read().status is Status.SYNCHRONIZED


def test_unknown_flag_bits_are_rejected():
    image = bytearray(encode(synced_snapshot(), seq=10))
    image[22] |= 0x08
    image[16:20] = zlib.crc32(bytes(image[20:]), zlib.crc32(bytes(image[8:16]))).to_bytes(4, "little")
    with pytest.raises(SegmentError, match="unknown flag bits 0x8"):
        decode(bytes(image))
