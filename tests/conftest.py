from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from daemonproc import BIN, daemon_factory  # noqa: E402, F401  (a fixture for every test module)

from chronotick_engine.protocol import (  # noqa: E402
    Publisher,
    Snapshot,
    Source,
    Status,
    detail_path,
    empty_snapshot,
    lock_path,
)  # noqa: E402
from chronotick_engine.testing.certs import TestCA  # noqa: E402
from chronotick_engine.testing.localntp import LocalChrony  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TRACES = REPO.parent / "shared" / "traces"


@pytest.fixture
def shm_path():
    path = f"/dev/shm/chronotick_test_{uuid.uuid4().hex[:10]}"
    yield path
    # The segment, its lock and sidecar, and whatever a test planted beside them (tests/test_security)
    for p in {path, lock_path(path), detail_path(path), *glob.glob(glob.escape(path) + "*")}:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


def require_native() -> None:
    """Skip where no C compiler could build the fast path; fail where one could and it is missing."""
    from chronotick_engine.client import native_available

    if not native_available():
        if shutil.which("cc"):
            pytest.fail(
                "chronotick_engine._native is not built although a C compiler is here: run make setup"
            )
        pytest.skip("no C compiler here, so no native fast path to test")


@pytest.fixture(scope="session")
def chrony():
    with LocalChrony() as server:
        yield server


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> tuple[TestCA, object]:
    """A test CA and a server certificate it signed for localhost, 127.0.0.1 and 127.0.0.2."""
    ca = TestCA(tmp_path_factory.mktemp("pki"))
    return ca, ca.issue("server", ["localhost"], ["127.0.0.1", "127.0.0.2"])


@pytest.fixture(scope="session")
def nts_chrony(pki):
    """chronyd serving NTS on loopback under the test CA."""
    with LocalChrony(nts=pki[1]) as server:
        yield server


def synced_snapshot(**changes) -> Snapshot:
    """A plausible SYNCHRONIZED snapshot anchored now, for publisher-driven tests."""
    m, r = time.monotonic_ns(), time.time_ns()
    base = dataclasses.replace(
        empty_snapshot(0, m, r),
        status=Status.SYNCHRONIZED,
        source=Source.CLASSICAL,
        offset_s=0.0125,
        drift=2e-6,
        offset_unc_s=0.0005,
        drift_unc=1e-7,
        max_drift_rate=1e-6,
        confidence=0.97,
        void_after_mono_ns=m + 30 * 10**9,
        last_ntp_mono_ns=m,
        publish_rate_hz=100.0,
        sample_count=12,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def publisher(shm_path):
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot())
        yield pub


# A writer publishing flat out, every image keeping one invariant (chronotick_engine/testing/torn.py).
TORN = [sys.executable, "-m", "chronotick_engine.testing.torn"]


@contextlib.contextmanager
def torn_writer(path: str, native: bool = False, seconds: float = 900):
    """The torn-read writer on `path` (the C writer with `native`), until the block ends."""
    proc = subprocess.Popen(
        [*TORN, "writer", path, str(seconds), *(["--native"] if native else [])],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def fresh(pub):
    m = time.monotonic_ns()
    pub.publish(synced_snapshot(last_publish_mono_ns=m, void_after_mono_ns=m + 30 * 10**9))


@pytest.fixture
def live_publisher(publisher):
    """Keep the segment fresh from a thread, as a daemon would: a test that makes several calls must
    not depend on finishing within the freshness grace on a slow machine."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            fresh(publisher)
            stop.wait(0.01)

    t = threading.Thread(target=beat, daemon=True)
    t.start()
    yield publisher
    stop.set()
    t.join()
