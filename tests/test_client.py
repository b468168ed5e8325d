"""ChronoTickClient against real segments written by real publisher processes."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import require_native, synced_snapshot

from chronotick_engine import ChronoTickClient, NotReadyError, SegmentError, Status
from chronotick_engine.client import PURE_PYTHON_ENV, freshness_grace_s
from chronotick_engine.protocol import Publisher, Source, decode, encode, lock_path
from chronotick_engine.protocol.codec import Flag, empty_snapshot


@pytest.fixture(autouse=True, params=["native", "pure"])
def reader_path(request, monkeypatch):
    """Every test here runs once through the C fast path and once forced onto pure Python."""
    if request.param == "native":
        monkeypatch.delenv(PURE_PYTHON_ENV, raising=False)
        require_native()
    else:
        monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    return request.param


def test_the_path_under_test_is_the_one_in_use(reader_path, shm_path):
    assert ChronoTickClient(shm_path).native is (reader_path == "native")


def _publish_forever(path: str, ready, rate_hz: float = 100.0) -> None:
    with Publisher(path) as pub:
        ready.set()
        while True:
            m = time.monotonic_ns()
            pub.publish(
                synced_snapshot(
                    last_publish_mono_ns=m,
                    void_after_mono_ns=m + 4 * 10**9,
                    anchor_mono_ns=m - 10**9,
                    anchor_real_ns=time.time_ns() - 10**9,
                )
            )
            time.sleep(1 / rate_hz)


def _start_writer(path: str):
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_publish_forever, args=(path, ready))
    proc.start()
    assert ready.wait(10)
    time.sleep(0.05)
    return proc


def test_reading_math(shm_path):
    with Publisher(shm_path) as pub:
        snap = synced_snapshot()
        pub.publish(snap)
        with ChronoTickClient(shm_path) as c:
            # Bracketed by the system clock, so a preemption between calls cannot fail the check.
            before = time.time()
            r = c.get_time()
            after = time.time()
            assert r.status == "SYNCHRONIZED" and r.source == "classical"
            assert r.earliest < r.corrected_timestamp < r.latest
            assert r.offset_correction == pytest.approx(snap.offset_s, abs=1e-3)
            assert before + snap.offset_s - 1e-3 < r.corrected_timestamp < after + snap.offset_s + 1e-3
            ns, unc = c.now_ns()
            assert r.corrected_timestamp - 1e-6 <= ns / 1e9 < time.time() + snap.offset_s + 1e-3 and unc > 0
            f = c.get_future_time(1000)
            assert f.uncertainty_seconds > r.uncertainty_seconds
            assert f.corrected_timestamp - r.corrected_timestamp == pytest.approx(
                1000 * (1 + snap.drift), abs=5e-3
            )


@pytest.mark.parametrize("bad", [-1, 3600.5, float("nan"), float("inf")])
def test_future_time_rejects_bad_horizons(shm_path, bad):
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot())
        with pytest.raises(ValueError):
            ChronoTickClient(shm_path).get_future_time(bad)


def test_wait_until_lands_within_tolerance(shm_path):
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot())
        c = ChronoTickClient(shm_path)
        target = c.get_time().corrected_timestamp + 0.2
        woke = c.wait_until(target, tolerance_ms=5)
        assert target <= woke <= target + 0.05
        with pytest.raises(ValueError, match="past"):
            c.wait_until(target - 10)


def test_no_estimate_is_an_error_not_a_time(shm_path):
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot(source=Source.NONE, status=Status.WARMING_UP))
        c = ChronoTickClient(shm_path)
        with pytest.raises(NotReadyError, match="no estimate"):
            c.get_time()
        assert not c.is_daemon_ready()
        assert c.wait_for_sync(0.2) is False


@pytest.mark.parametrize("look_first", ["get_daemon_info", "daemon_running", "status", "snapshot"])
def test_a_status_look_never_arms_a_reading_of_nothing(shm_path, look_first):
    """A status call just before a reading (as the MCP tools and `chronotick-client status` do)
    must not let the reading skip validation: no estimate is an error, never a made-up time."""
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot(source=Source.NONE, status=Status.WARMING_UP))
        c = ChronoTickClient(shm_path)
        getattr(c, look_first)()
        with pytest.raises(NotReadyError, match="no estimate"):
            c.get_time()
        getattr(c, look_first)()
        with pytest.raises(NotReadyError, match="no estimate"):
            c.now_ns()
        m = time.monotonic_ns()
        pub.publish(synced_snapshot(last_publish_mono_ns=m - 10**9, void_after_mono_ns=m - 1))
        getattr(c, look_first)()
        with pytest.raises(NotReadyError, match="void"):
            c.get_time()


def test_missing_daemon(shm_path):
    c = ChronoTickClient(shm_path)
    assert c.status() is Status.UNKNOWN and not c.is_daemon_ready()
    with pytest.raises(SegmentError, match="daemon running"):
        c.now_ns()


def test_writer_killed_leaves_synchronized_and_bound_grows(shm_path):
    proc = _start_writer(shm_path)
    c = ChronoTickClient(shm_path)
    assert c.wait_for_sync(5)
    before = c.get_time().uncertainty_seconds
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    grace = freshness_grace_s(100.0)
    time.sleep(grace + 0.3)
    r = c.get_time()
    assert r.status == "FREE_RUNNING"
    assert r.uncertainty_seconds > before
    assert c.get_daemon_info()["running"] is False
    time.sleep(4)  # past void_after: no time at all rather than a silently wrong one
    with pytest.raises(NotReadyError, match="void"):
        c.get_time()
    assert c.status() is Status.UNKNOWN


def test_restarted_writer_is_picked_up_by_existing_client(shm_path):
    first = _start_writer(shm_path)
    c = ChronoTickClient(shm_path)
    gen1 = c.get_daemon_info()["generation"]
    os.kill(first.pid, signal.SIGKILL)
    first.join()
    second = _start_writer(shm_path)
    try:
        time.sleep(0.1)
        info = c.get_daemon_info()
        assert info["generation"] != gen1 and info["status"] == "SYNCHRONIZED"
    finally:
        second.kill()
        second.join()


def test_replaced_file_is_remapped(shm_path):
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot(last_publish_mono_ns=time.monotonic_ns() - 10**10))
    c = ChronoTickClient(shm_path)
    c.get_time()
    os.unlink(shm_path)
    os.unlink(lock_path(shm_path))
    with Publisher(shm_path) as pub2:
        pub2.publish(synced_snapshot(offset_s=0.5))
        time.sleep(0.15)  # a stale client looks for a replaced file at most every 100 ms
        assert c.get_time().offset_correction == pytest.approx(0.5, abs=1e-3)


def test_replacement_is_looked_for_at_most_every_100_ms(shm_path, monkeypatch):
    """An MCP server reads once per call, each more than 1 ms apart: that must not cost a stat()
    (which releases the GIL) per call, only one per 100 ms."""
    import chronotick_engine.protocol.reader as reader

    stats = []
    real_stat = os.stat
    monkeypatch.setattr(reader.os, "stat", lambda *a, **k: stats.append(a) or real_stat(*a, **k))
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot())
        c = ChronoTickClient(shm_path)
        start = time.monotonic()
        for _ in range(20):
            c.get_time()
            time.sleep(0.0015)
        elapsed = time.monotonic() - start
    assert len(stats) <= 1 + int(elapsed / 0.1), (len(stats), elapsed)


def test_reader_exit_leaves_segment(live_publisher, shm_path):
    code = f"from chronotick_engine import ChronoTickClient; print(ChronoTickClient({shm_path!r}).get_time().status)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "SYNCHRONIZED", out
    assert os.path.exists(shm_path)


def test_stopped_daemon_is_not_synchronized(shm_path):
    with Publisher(shm_path) as pub:
        from chronotick_engine.protocol import Flag

        pub.publish(dataclasses.replace(synced_snapshot(), flags=Flag.STOPPED))
        c = ChronoTickClient(shm_path)
        assert c.get_time().status == "FREE_RUNNING"
        assert c.get_daemon_info()["stopped"] is True


@pytest.mark.parametrize("how", ["stopped flag", "heartbeat gone"])
def test_a_daemon_gone_before_its_first_estimate_is_stopped_not_warming_up(shm_path, how):
    m, r = time.monotonic_ns(), time.time_ns()
    image = dataclasses.replace(empty_snapshot(0, m, r), status=Status.WARMING_UP)
    if how == "stopped flag":
        image = dataclasses.replace(image, flags=Flag.STOPPED)
    else:
        image = dataclasses.replace(image, last_publish_mono_ns=m - 10 * 10**9)
    with Publisher(shm_path) as pub:
        pub.publish(image)
        c = ChronoTickClient(shm_path)
        assert c.status() is Status.STOPPED and c.get_daemon_info().status == "STOPPED"
        with pytest.raises(NotReadyError, match="stopped before its first estimate") as err:
            c.now_ns()
        assert "retry" not in str(err.value) and "wait_for_sync" not in str(err.value)
        pub.publish(dataclasses.replace(image, flags=Flag(0), last_publish_mono_ns=time.monotonic_ns()))
        assert c.status() is Status.UNKNOWN  # live and warming up: not stopped


def test_stopped_is_never_read_from_a_segment():
    """STOPPED is a reader's conclusion: an image that claims it, checksum and all, is corrupt."""
    image = encode(dataclasses.replace(synced_snapshot(), status=Status.STOPPED), seq=2)
    with pytest.raises(SegmentError, match="out-of-range"):
        decode(image)
