"""The C heartbeat writer (chronotick_engine._heartbeat over clients/c/chronotick_writer.h) against
the pure-Python Publisher it replaces in the daemon's publish loop: the same bytes for the same
inputs, a thread that publishes only while Python vouches for its base, and a real daemon whose
heartbeat stops with its process (SIGSTOP, SIGKILL)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import synced_snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronotick_engine import ChronoTickClient
from chronotick_engine.protocol import Publisher, SegmentReader, lock_path
from chronotick_engine.protocol.native_heartbeat import NativeHeartbeat, native_heartbeat_available

pytestmark = pytest.mark.skipif(
    not native_heartbeat_available(), reason="chronotick_engine._heartbeat not built"
)

I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
RATES = st.one_of(
    st.floats(min_value=0, max_value=1e5, allow_nan=False),
    st.sampled_from([12.25, 12.35, 0.05, 0.15, 6553.5, 6553.6, -1.0]),  # ties to even, clamps
)


@pytest.fixture
def pair():
    """Two fresh segments: a Python Publisher and one whose writes go through the C writer, with
    the same generation, so that equal inputs must give equal images."""
    paths = [f"/dev/shm/chronotick_test_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    py, c = Publisher(paths[0]), Publisher(paths[1])
    c.generation = py.generation
    heart = NativeHeartbeat(c, 10**7, 0)
    yield py, c, heart
    heart.stop()
    for pub, path in ((py, paths[0]), (c, paths[1])):
        pub.close()
        for p in (path, lock_path(path)):
            Path(p).unlink(missing_ok=True)


def image(pub: Publisher) -> bytes:
    return bytes(pub.mapping)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    now=I64,
    void_after=I64,
    count=st.integers(min_value=0, max_value=2**64 - 1),
    rate=RATES,
    latency=st.floats(min_value=0, max_value=1e3, allow_nan=False)
    | st.sampled_from([0.0005, 0.0015, 65.5355]),
    offset=st.floats(allow_nan=False, width=64),
    samples=st.integers(min_value=0, max_value=2**40),
)
def test_a_tick_is_byte_identical_to_the_python_publishers(
    pair, now, void_after, count, rate, latency, offset, samples
):
    py, c, heart = pair
    base = synced_snapshot(offset_s=offset, sample_count=samples)
    py.publish_heartbeat(base, now, void_after, count, rate, latency)
    heart.set_base(base, None, 0, 0)
    heart.tick(now, void_after, count, rate, latency)
    assert image(py) == image(c)


def test_whole_publishes_through_the_c_writer_are_byte_identical(pair):
    py, c, _ = pair
    for k in range(5):
        snap = synced_snapshot(publish_count=k, offset_s=k * 1e-3, avg_latency_ms=0.0125 * k)
        py.publish(snap)
        c.publish(snap)
        assert image(py) == image(c)
        assert SegmentReader(c.path).read().publish_count == k


def test_the_thread_publishes_at_its_rate_only_while_its_base_is_vouched_for(pair):
    _, c, heart = pair
    reader = SegmentReader(c.path)
    m = time.monotonic_ns()
    heart.set_base(synced_snapshot(), None, 5 * 10**9, m + 400_000_000)  # 100 Hz, for 0.4 s
    heart._c.start()
    time.sleep(0.2)
    first = reader.read()
    time.sleep(0.5)
    held = reader.read()
    assert 10 <= held.publish_count - first.publish_count <= 30, (first, held)
    assert held.last_publish_mono_ns < m + 400_000_000  # nothing at or after the hold
    assert held.void_after_mono_ns == held.last_publish_mono_ns + 5 * 10**9
    time.sleep(0.2)
    assert reader.read().publish_count == held.publish_count  # stopped: the heartbeat goes stale
    heart.hold(time.monotonic_ns() + 10**9)
    time.sleep(0.2)
    assert reader.read().publish_count > held.publish_count  # vouched for again
    stats = heart.stats()
    assert stats.count >= held.publish_count and 50 < stats.rate_hz < 200, stats
    heart.set_base(dataclasses.replace(synced_snapshot(), offset_s=0.5), 123, 0, time.monotonic_ns() + 10**9)
    time.sleep(0.1)
    latest = reader.read()
    assert latest.offset_s == 0.5 and latest.void_after_mono_ns == 123  # an inherited model's own void time


def test_a_stopped_daemon_process_stops_its_heartbeat_and_a_continued_one_resumes(
    chrony, daemon_factory, shm_path
):
    d = daemon_factory([chrony.address])
    client = ChronoTickClient(shm_path)
    assert client.wait_for_sync(10)
    publish = d.status_file()["publish"]
    assert publish["writer"] == "c"
    threads = {(t / "comm").read_text().strip(): t.name for t in Path(f"/proc/{d.proc.pid}/task").iterdir()}
    policy = subprocess.run(["chrt", "-p", threads["ct-heartbeat"]], capture_output=True, text=True).stdout
    if os.geteuid() == 0:  # root may have SCHED_FIFO: daemon.heartbeat_priority's 1 by default
        assert publish["scheduling"] == "SCHED_FIFO 1" and "SCHED_FIFO" in policy, (publish, policy)
    else:
        assert publish["scheduling"] in (
            "SCHED_FIFO 1",
            "normal (SCHED_FIFO 1 refused: Operation not permitted)",
        )
    d.proc.send_signal(signal.SIGSTOP)
    try:
        stopped_at = SegmentReader(shm_path).read().last_publish_mono_ns
        time.sleep(1.3)  # past the 1.05 s freshness grace at 100 Hz
        assert SegmentReader(shm_path).read().last_publish_mono_ns == stopped_at
        assert client.status().name == "FREE_RUNNING"
    finally:
        d.proc.send_signal(signal.SIGCONT)
    time.sleep(0.3)
    assert client.status().name == "SYNCHRONIZED"
    assert d.stop(signal.SIGTERM) == 0


def test_the_python_loop_still_serves_with_pure_python(chrony, daemon_factory, shm_path):
    d = daemon_factory([chrony.address], env={**os.environ, "CHRONOTICK_PURE_PYTHON": "1"})
    assert ChronoTickClient(shm_path).wait_for_sync(10)
    time.sleep(0.5)
    publish = d.status_file()["publish"]
    assert publish["writer"] == "python" and publish["count"] > 0


@pytest.mark.parametrize("freq", [1, 1000])
def test_the_c_thread_publishes_at_the_rate_asked(chrony, daemon_factory, shm_path, freq):
    d = daemon_factory([chrony.address], freq_hz=freq)
    assert ChronoTickClient(shm_path).wait_for_sync(10)
    reader = SegmentReader(shm_path)
    first = reader.read()
    time.sleep(4.2)
    last = reader.read()
    seconds = (last.last_publish_mono_ns - first.last_publish_mono_ns) / 1e9
    assert d.status_file()["publish"]["writer"] == "c"
    assert abs((last.publish_count - first.publish_count) / seconds - freq) <= 0.01 * freq + 1e-9, (
        first,
        last,
    )


def test_heartbeat_priority_0_keeps_normal_scheduling(chrony, daemon_factory, shm_path):
    d = daemon_factory([chrony.address], heartbeat_priority=0)
    assert ChronoTickClient(shm_path).wait_for_sync(10)
    publish = d.status_file()["publish"]
    assert publish["writer"] == "c" and publish["scheduling"] == "normal", publish
