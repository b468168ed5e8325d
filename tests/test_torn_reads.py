"""A writer publishing as fast as it can against two reader processes: >= 10^6 validated reads, and
no accepted snapshot may be internally inconsistent according to the independent decoder."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import subprocess
import time

import pytest
from conftest import TORN, synced_snapshot, torn_writer
from independent_decoder import decode_v1

from chronotick_engine.client import native_available
from chronotick_engine.protocol import Publisher, SegmentReader, encode
from chronotick_engine.testing.torn import FIRST_K

READS_PER_READER = 500_000


def _writer(path: str, ready, stop) -> None:
    base = synced_snapshot()
    with Publisher(path) as pub:
        k = 0
        ready.set()
        while not stop.is_set():
            k += 1
            # Every field derives from k, so a mix of two publishes is detectable.
            pub.publish(
                dataclasses.replace(
                    base,
                    publish_count=k,
                    sample_count=k,
                    offset_s=k * 1e-3,
                    anchor_mono_ns=k,
                    last_publish_mono_ns=2 * k,
                )
            )


def _reader(path: str, out) -> None:
    reader = SegmentReader(path)
    bad = accepted = 0
    for _ in range(READS_PER_READER):
        snap = reader.read()
        accepted += 1
        k = snap.publish_count
        ok = snap.sample_count == k and snap.offset_s == k * 1e-3 and snap.anchor_mono_ns == k
        ok = ok and snap.last_publish_mono_ns == 2 * k
        indep = decode_v1(encode(snap, snap.seq))
        if not ok or indep is None or indep["publish_count"] != k:
            bad += 1
    out.put((accepted, bad, reader.torn_retries))


def test_no_torn_snapshot_is_ever_accepted(shm_path):
    ctx = mp.get_context("fork")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    writer = ctx.Process(target=_writer, args=(shm_path, ready, stop))
    writer.start()
    assert ready.wait(10)
    time.sleep(0.05)
    readers = [ctx.Process(target=_reader, args=(shm_path, out)) for _ in range(2)]
    for r in readers:
        r.start()
    results = [out.get(timeout=300) for _ in readers]
    for r in readers:
        r.join(10)
    stop.set()
    writer.join(10)
    total = sum(a for a, _, _ in results)
    assert total >= 1_000_000
    assert sum(b for _, b, _ in results) == 0
    print(f"reads={total} torn_retries={sum(t for _, _, t in results)} inconsistent_accepted=0")


@pytest.mark.parametrize("writer", ["python", "c"])
@pytest.mark.parametrize("path, reads", [("pure", 1_000_000), ("native", 10_000_000)])
def test_python_readers_accept_no_torn_snapshot_from_either_writer(shm_path, writer, path, reads):
    """The Python client's two paths (pure Python; the C fast path, chronotick_engine._native)
    against the Python Publisher and the C writer publishing flat out."""
    if path == "native" and not native_available():
        pytest.skip("the native reader is not built here")
    with torn_writer(shm_path, native=writer == "c"):
        out = subprocess.run(
            [*TORN, "read", shm_path, str(reads), *(["--native"] if path == "native" else [])],
            capture_output=True,
            text=True,
            timeout=600,
        )
    result = json.loads(out.stdout)
    assert out.returncode == 0 and result["reads"] == reads and result["inconsistent"] == 0, result


def test_a_starved_writer_leaves_only_images_that_keep_the_invariant(shm_path):
    """The cause of the torn reads CI reported: readers that start while the writer is held back
    read its first image, which must keep the invariant like every other (it did not)."""
    proc = subprocess.Popen(
        [*TORN, "writer", shm_path, "1", "--stall", "0.5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        out = subprocess.run([*TORN, "read", shm_path, "20000"], capture_output=True, text=True, timeout=60)
        result = json.loads(out.stdout)
        assert out.returncode == 0 and result["inconsistent"] == 0, result
        assert SegmentReader(shm_path).read().publish_count == FIRST_K  # all read during the stall
    finally:
        proc.kill()
        proc.wait()
