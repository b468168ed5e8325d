"""The ClockBound-compatible segment: its codec, its file rules, the hard bound behind it, a reader
written here from ClockBound's docs/PROTOCOL.md, and ClockBound's own PyPI client (`clockbound`
0.3.0, which needs Python >= 3.13) reading the real daemon's segment."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest
from conftest import REPO
from daemonproc import DaemonProc, write_config
from hypothesis import given
from hypothesis import strategies as st

from chronotick_engine.errors import PublisherError
from chronotick_engine.measure.hard_bound import intersect, marzullo
from chronotick_engine.measure.ntp import Exchange
from chronotick_engine.protocol.clockbound import (
    ClockBoundRecord,
    ClockBoundWriter,
    ClockStatus,
    clock_status,
    decode,
)
from chronotick_engine.protocol.codec import Status

# ClockBound's docs/PROTOCOL.md, version 2, read independently of protocol/clockbound.py: magic u64,
# size u32, version u16, generation u16, as-of and void-after (i64 s, i64 ns), bound i64,
# disruption marker u64, max drift u32, status i32, disruption support u8, 7 bytes of padding.
SPEC = struct.Struct("=8sIHHqqqqqQIiB7x")
assert SPEC.size == 80


def spec_read(image: bytes) -> dict:
    names = "magic size version generation as_of_s as_of_ns void_s void_ns bound marker drift status support"
    return dict(zip(names.split(), SPEC.unpack(image), strict=True))


@pytest.fixture
def cb_path(tmp_path) -> str:
    return str(tmp_path / "shm0")


@given(
    as_of=st.integers(0, 2**62),
    void=st.integers(0, 2**62),
    bound=st.integers(0, 2**62),
    drift=st.integers(0, 2**32 - 1),
    status=st.sampled_from(list(ClockStatus)),
)
def test_records_round_trip_and_match_the_spec(tmp_path_factory, as_of, void, bound, drift, status):
    path = str(tmp_path_factory.mktemp("cb") / "shm0")
    rec = ClockBoundRecord(as_of, void, bound, drift, status)
    with ClockBoundWriter(path) as w:
        w.write(rec)
        image = Path(path).read_bytes()
    assert decode(image) == (2, rec)
    f = spec_read(image)
    assert f["magic"] == b"AMZNCB\x02\x00" and f["size"] == 80 and f["version"] == 2 and f["generation"] == 2
    assert f["as_of_s"] * 10**9 + f["as_of_ns"] == as_of and 0 <= f["as_of_ns"] < 10**9
    assert f["void_s"] * 10**9 + f["void_ns"] == void and f["bound"] == bound
    assert f["drift"] == drift and f["status"] == status and f["support"] == 0 and f["marker"] == 0


def test_generation_is_odd_while_writing_and_wraps_to_2(cb_path):
    with ClockBoundWriter(cb_path) as w:
        w.generation = 65532
        seen = []
        for _ in range(3):
            w.write(ClockBoundRecord(1, 2, 3, 4, ClockStatus.SYNCHRONIZED))
            seen.append(spec_read(Path(cb_path).read_bytes())["generation"])
    assert seen == [65534, 2, 4]


def test_status_map():
    assert clock_status(Status.SYNCHRONIZED) is ClockStatus.SYNCHRONIZED
    assert clock_status(Status.FREE_RUNNING) is ClockStatus.FREE_RUNNING
    assert clock_status(Status.DISRUPTED) is ClockStatus.DISRUPTED
    for other in (Status.UNKNOWN, Status.WARMING_UP, Status.STOPPED):
        assert clock_status(other) is ClockStatus.UNKNOWN


def test_restart_reuses_the_file_and_carries_the_generation_on(cb_path):
    with ClockBoundWriter(cb_path) as w:
        for _ in range(5):
            w.write(ClockBoundRecord(1, 2, 3, 4, ClockStatus.SYNCHRONIZED))
    inode = os.stat(cb_path).st_ino
    with ClockBoundWriter(cb_path) as w:
        w.write(ClockBoundRecord(1, 2, 3, 4, ClockStatus.SYNCHRONIZED))
        assert os.stat(cb_path).st_ino == inode and decode(Path(cb_path).read_bytes())[0] == 12


def test_a_second_writer_a_link_and_a_foreign_file_are_refused(cb_path, tmp_path):
    with ClockBoundWriter(cb_path), pytest.raises(PublisherError, match="already publishing"):
        ClockBoundWriter(cb_path)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PublisherError, match="symlink"):
        ClockBoundWriter(str(link))
    if os.geteuid() == 0:
        planted = tmp_path / "planted"
        planted.write_bytes(bytes(80))
        os.chown(planted, 65534, 65534)
        with pytest.raises(PublisherError, match="nobody"):
            ClockBoundWriter(str(planted))


@given(
    truth=st.floats(-1, 1),
    servers=st.lists(
        st.tuples(st.floats(0, 0.2), st.floats(0, 0.05), st.floats(-1, 1), st.integers(0, 5 * 10**9)),
        min_size=1,
        max_size=6,
    ),
)
def test_the_hard_interval_holds_a_truth_every_exchange_allows(truth, servers):
    """Exchanges consistent with one true offset (moving at the drift): their Marzullo region holds it."""
    drift, max_drift, t_now = 2e-6, 15e-6, 10 * 10**9
    exchanges = []
    for delay, rdist, where, t in servers:
        # The measured offset lies anywhere in truth ± (delay/2 + root distance) at its time.
        at_t = truth - drift * (t_now - t) / 1e9
        offset = at_t + where * (delay / 2 + rdist)
        exchanges.append(Exchange("s", offset, delay, t, 0, 1, rdist))
    hard = intersect(exchanges, t_now, drift, max_drift)
    assert hard is not None
    lo, hi = hard.at(t_now)
    assert lo - 1e-12 <= truth <= hi + 1e-12
    assert marzullo([(0, 1), (2, 3), (0.5, 2.5)]) == (0.5, 1)


def _flat_out_writer(path: str, ready, stop) -> None:
    with ClockBoundWriter(path) as w:
        ready.set()
        k = 0
        while not stop.is_set():
            k += 1
            # Every field derives from k: a mix of two writes is detectable.
            w.write(ClockBoundRecord(k * 10**9 + k, k * 10**9 + 2 * k, 3 * k, k & 0xFFFF, ClockStatus(k % 4)))


def spec_reader(path: str, reads: int) -> dict:
    """ClockBound's reader rule: a copy between two equal, even generations is consistent."""
    import mmap

    with open(path, "rb") as fh:
        mm = mmap.mmap(fh.fileno(), 80, access=mmap.ACCESS_READ)
    accepted = torn = inconsistent = 0
    gen = struct.Struct("=H")
    for _ in range(reads):
        g1 = gen.unpack_from(mm, 14)[0]
        image = mm[:80]
        g2 = gen.unpack_from(mm, 14)[0]
        if g1 & 1 or g1 != g2 or g1 == 0:
            torn += 1
            continue
        f = spec_read(image)
        k = f["as_of_ns"]
        ok = (
            f["generation"] == g1
            and f["as_of_s"] == k
            and f["void_s"] == k
            and f["void_ns"] == 2 * k
            and f["bound"] == 3 * k
            and f["drift"] == k & 0xFFFF
            and f["status"] == k % 4
        )
        accepted += 1
        inconsistent += not ok
    return {"reads": reads, "accepted": accepted, "torn_retries": torn, "inconsistent": inconsistent}


def test_a_million_spec_reads_against_a_writer_flat_out_accept_no_torn_record(cb_path):
    ctx = mp.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    writer = ctx.Process(target=_flat_out_writer, args=(cb_path, ready, stop))
    writer.start()
    try:
        assert ready.wait(10)
        time.sleep(0.05)
        result = spec_reader(cb_path, 1_000_000)
    finally:
        stop.set()
        writer.join(10)
    print(result)
    assert result["inconsistent"] == 0 and result["accepted"] > 100_000, result


# ClockBound's own PyPI client, in a Python 3.13 venv of its own ------------------------------------


def _python313() -> str | None:
    """A real Python 3.13 (pyenv's shim answers even where 3.13 is not selected, and then fails)."""
    import glob

    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[3-9]*/bin/python3")))
    candidates += [p for p in (shutil.which("python3.13"),) if p and "shims" not in p]
    return candidates[0] if candidates else None


PY313 = _python313()

# Reads ClockBound's client and ChronoTick's (pure Python: the native module is built for this
# interpreter, not 3.13) in turn, and prints one JSON line per round.
PROBE = r"""
import json, sys, time
import clockbound.clockbound as cbm
from chronotick_engine.client import ChronoTickClient
cb, ct = cbm.Clockbound(sys.argv[1]), ChronoTickClient(sys.argv[2])
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    before = cb.snapshot().generation
    t0 = time.perf_counter_ns()
    r = ct.get_time()
    b = cb.now()
    took = time.perf_counter_ns() - t0
    snap = cb.snapshot()
    if snap.generation != before:
        continue  # a ClockBound write between the reads: no common instant to compare at
    half = (b.latest - b.earliest) // 2
    off, unc = r.offset_correction, r.uncertainty_seconds
    print(json.dumps({"lo": round((off - unc) * 1e9), "hi": round((off + unc) * 1e9),
                      "bound": half, "status": snap.clock_status, "gen": snap.generation, "as_of": snap.as_of_s * 10**9 + snap.as_of_ns,
                      "drift": snap.max_drift, "ct_status": r.status, "took": took}), flush=True)
    time.sleep(float(sys.argv[4]))
"""


@pytest.fixture(scope="module")
def clockbound_venv(tmp_path_factory) -> Path:
    if PY313 is None or not os.path.exists(PY313):
        pytest.skip("no Python 3.13 here for ClockBound's PyPI client (clockbound 0.3.0 needs >= 3.13)")
    venv = tmp_path_factory.mktemp("cb313") / "venv"
    subprocess.run([PY313, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "clockbound==0.3.0", "pydantic>=2.7"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    return venv


def probe(venv: Path, cb_path: str, shm_path: str, seconds: float, every: float) -> list[dict]:
    import json

    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", PROBE, cb_path, shm_path, str(seconds), str(every)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_clockbounds_own_client_reads_our_segment(clockbound_venv, chrony, shm_path, tmp_path):
    cb_path = str(tmp_path / "shm0")
    cfg = write_config(tmp_path, [chrony.address], extra=f"clockbound: {{path: {cb_path}}}\n")
    from chronotick_engine import ChronoTickClient

    d = DaemonProc(cfg, shm_path)
    try:
        assert ChronoTickClient(shm_path).wait_for_sync(15), "daemon never synchronised"
        rounds = probe(clockbound_venv, cb_path, shm_path, 30, 0.01)
        assert len(rounds) > 500
        for r in rounds:
            # ClockBound's interval, centred on the system clock, holds ChronoTick's 95% interval.
            # A reading relates CLOCK_MONOTONIC to CLOCK_REALTIME by reading both: a preemption
            # between the two shifts it by at most the round's duration.
            assert r["status"] == 1 and r["ct_status"] == "SYNCHRONIZED", r
            assert -r["bound"] - r["took"] <= r["lo"] and r["hi"] <= r["bound"] + r["took"], r
        gen_before = rounds[-1]["gen"]
        d.stop(signal.SIGKILL)
        dead = probe(clockbound_venv, cb_path, shm_path, 2, 0.5)
        assert len({r["as_of"] for r in dead}) == 1, "as_of moved after SIGKILL"
        first, last = dead[0], dead[-1]
        # The bound grows by the max drift over the time since as_of, and nothing else.
        assert last["bound"] > first["bound"]
        d = DaemonProc(cfg, shm_path)
        assert ChronoTickClient(shm_path).wait_for_sync(15)
        again = probe(clockbound_venv, cb_path, shm_path, 1, 0.1)
        assert again[-1]["status"] == 1 and again[-1]["gen"] != gen_before
    finally:
        d.stop()
