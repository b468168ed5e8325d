"""NTS against a second, independent implementation: Debian's ntpsec ntpd as the NTS server.

ntpsec's ports are fixed (NTS-KE 4460, NTP 123), so this needs root and those ports free; the test
says which is missing rather than pass. `make system-deps` unpacks ntpsec into .tools/ntpsec.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from test_nts import detail

from chronotick_engine import ChronoTickClient
from chronotick_engine.testing.certs import TestCA
from chronotick_engine.testing.ntpsec import LocalNtpsec, ports_free

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent


def _ntpd() -> str | None:
    unpacked = ROOT / ".tools/ntpsec/usr/sbin/ntpd"
    return str(unpacked) if unpacked.exists() else shutil.which("ntpd")


@pytest.fixture(scope="module")
def ntpsec(tmp_path_factory):
    binary = _ntpd()
    if binary is None:
        pytest.skip("ntpsec's ntpd is not here: run make system-deps")
    if os.geteuid() != 0 or not ports_free():
        pytest.skip("ntpsec needs root and free ports 123/udp and 4460/tcp")
    ca = TestCA(tmp_path_factory.mktemp("ntpsec-pki"))
    with LocalNtpsec(binary, ca.issue("ntpsec", ["localhost"], ["127.0.0.1"])) as server:
        yield ca, server


def test_synchronized_against_ntpsec_with_every_sample_authenticated(ntpsec, daemon_factory, shm_path):
    ca, server = ntpsec
    start = time.monotonic()
    daemon_factory([{"host": "127.0.0.1", "nts": True, "ca_file": str(ca.ca_file)}])
    # ntpsec answers kiss-of-death INIT for its first seconds in orphan mode.
    assert ChronoTickClient(shm_path).wait_for_sync(40), server.log_tail()
    print(f"SYNCHRONIZED over NTS with ntpsec after {time.monotonic() - start:.2f} s")
    time.sleep(1.5)
    srv = detail(shm_path)["127.0.0.1"]
    assert srv["nts"] and srv["authenticated"] and srv["accepted"] >= 3, srv
    assert srv["ntp_address"] == "127.0.0.1:123", srv
    assert srv["nts_key_exchanges"] >= 1 and srv["nts_cookies"] >= 1, srv
    assert set(srv["rejects"]) <= {"kiss_of_death"}, srv  # INIT while ntpsec starts, nothing else
