"""The C fast path (chronotick_engine._native) and the pure-Python reader agree on everything a
reading returns, and fail alike."""

from __future__ import annotations

import time

import pytest
from conftest import fresh, require_native, synced_snapshot

from chronotick_engine import ChronoTickClient, NotReadyError, SegmentError, Source, Status, TimeReading
from chronotick_engine.client import PURE_PYTHON_ENV
from chronotick_engine.protocol import Publisher


@pytest.fixture
def pair(monkeypatch, shm_path):
    """(native client, pure client) on the same segment."""
    monkeypatch.delenv(PURE_PYTHON_ENV, raising=False)
    require_native()
    native = ChronoTickClient(shm_path)
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    pure = ChronoTickClient(shm_path)
    assert native.native and not pure.native
    yield native, pure
    native.close()
    pure.close()


def test_same_instant_same_numbers(pair, publisher):
    native, pure = pair
    fresh(publisher)
    for horizon_ns in (0, 1, 123_456_789, 3600 * 10**9, -(10**9)):
        instant = time.monotonic_ns() + horizon_ns
        assert native._native.at_ns(instant) == pure.at_ns(instant)


def test_readings_agree_field_by_field(pair, publisher):
    native, pure = pair
    fresh(publisher)
    a = native.get_time()
    b = pure.get_time()
    c = native.get_time()
    assert type(a) is TimeReading and a._fields == b._fields
    for field in ("confidence", "source", "status", "drift_rate", "horizon_seconds"):
        assert getattr(a, field) == getattr(b, field), field
    for r in (a, b):
        assert r.earliest == r.corrected_timestamp - r.uncertainty_seconds
        assert r.latest == r.corrected_timestamp + r.uncertainty_seconds
        assert r.corrected_timestamp == r.corrected_ns / 1e9
    # b was read between a and c: every instant-dependent field lies between theirs.
    for field in ("corrected_ns", "system_timestamp", "seconds_since_ntp", "uncertainty_seconds"):
        assert getattr(a, field) <= getattr(b, field) <= getattr(c, field), field
    assert abs(a.offset_correction - b.offset_correction) < 1e-4
    ns_native, unc_native = native.now_ns()
    ns_pure, unc_pure = pure.now_ns()
    assert 0 <= ns_pure - ns_native < 50_000_000 and abs(unc_pure - unc_native) < 1_000


def test_never_synced_ntp_is_none_on_both(pair, publisher):
    native, pure = pair
    m = time.monotonic_ns()
    publisher.publish(synced_snapshot(last_publish_mono_ns=m, last_ntp_mono_ns=0))
    assert native.get_time().seconds_since_ntp is None and pure.get_time().seconds_since_ntp is None


def test_failures_are_the_pure_paths_own(pair, shm_path):
    native, pure = pair
    errors = []
    for client in (native, pure):
        with pytest.raises(SegmentError) as err:
            client.now_ns()
        errors.append(str(err.value))
    assert errors[0] == errors[1] and "is chronotick-daemon running" in errors[0]
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot(source=Source.NONE, status=Status.WARMING_UP))
        for client in (native, pure):
            with pytest.raises(NotReadyError, match="no estimate yet"):
                client.get_time()
        m = time.monotonic_ns()
        pub.publish(synced_snapshot(last_publish_mono_ns=m - 10**9, void_after_mono_ns=m - 1))
        for client in (native, pure):
            with pytest.raises(NotReadyError, match="void"):
                client.now_ns()


def test_forcing_pure_python(monkeypatch, shm_path):
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    assert not ChronoTickClient(shm_path).native
