"""The real daemon as a subprocess against real chronyd servers on loopback, some behind the
fault-injecting proxy."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from conftest import BIN, REPO
from faultproxy import FaultProxy
from mcpwire import call_stdio_tool

from chronotick_engine import ChronoTickClient
from chronotick_engine.testing.localntp import LocalChrony

pytestmark = pytest.mark.integration


def test_synchronized_within_10s_and_clean_sigterm(chrony, daemon_factory, shm_path):
    start = time.monotonic()
    d = daemon_factory([chrony.address])
    client = ChronoTickClient(shm_path)
    assert client.wait_for_sync(10), d.proc.stderr.read() if d.proc.poll() is not None else "not synced"
    print(f"synchronized after {time.monotonic() - start:.2f} s")
    before = time.time()  # bracketed, so a preemption between calls cannot fail the check
    r = client.get_time()
    after = time.time()
    assert before - 0.01 < r.corrected_timestamp < after + 0.01 and r.uncertainty_seconds < 0.005
    out = subprocess.run(
        [str(BIN / "chronotick-client"), "status", "--json", "--shm-path", shm_path],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and json.loads(out.stdout)["status"] == "SYNCHRONIZED"
    assert d.stop(signal.SIGTERM) == 0
    info = client.get_daemon_info()
    assert info["stopped"] and info["status"] != "SYNCHRONIZED"
    out = subprocess.run(
        [str(BIN / "chronotick-client"), "status", "--shm-path", shm_path],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1


def test_sigkill_goes_free_running_then_unknown(chrony, daemon_factory, shm_path):
    d = daemon_factory([chrony.address], void_after_seconds=3)
    client = ChronoTickClient(shm_path)
    assert client.wait_for_sync(10)
    d.stop(signal.SIGKILL)
    time.sleep(1.2)
    assert client.status().name == "FREE_RUNNING"
    time.sleep(2.5)
    assert client.status().name == "UNKNOWN"
    out = subprocess.run(
        [str(BIN / "chronotick-client"), "read", "--shm-path", shm_path],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1 and "void" in out.stderr and "Traceback" not in out.stderr


def test_second_daemon_on_same_path_exits_clearly(chrony, daemon_factory, shm_path):
    daemon_factory([chrony.address])
    assert ChronoTickClient(shm_path).wait_for_sync(10)
    second = daemon_factory([chrony.address])
    assert second.proc.wait(15) == 1
    assert "already publishing" in second.proc.stderr.read()


def test_one_liar_of_three_is_excluded(chrony, daemon_factory, shm_path):
    with LocalChrony() as second:
        liar = FaultProxy(chrony.port).start()
        liar.faults.shift_s = 1.0
        try:
            d = daemon_factory([chrony.address, second.address, liar.address])
            client = ChronoTickClient(shm_path)
            assert client.wait_for_sync(10)
            time.sleep(2)
            assert abs(client.get_time().offset_correction) < 0.005
            servers = {s["server"]: s for s in d.status_file()["servers"]}
            assert servers[liar.address]["rejects"].get("falseticker", 0) >= 1
            assert servers[liar.address]["selected"] == 0
        finally:
            liar.stop()


def test_dead_server_and_garbage_replies_are_survived(chrony, daemon_factory, shm_path):
    dead = FaultProxy(chrony.port).start()
    garbage = FaultProxy(chrony.port).start()
    dead.faults.drop = 1.0
    garbage.faults.garbage = True
    try:
        d = daemon_factory([chrony.address, dead.address, garbage.address])
        client = ChronoTickClient(shm_path)
        assert client.wait_for_sync(10)
        time.sleep(2)
        servers = {s["server"]: s for s in d.status_file()["servers"]}
        assert servers[dead.address]["rejects"].get("timeout", 0) >= 1
        bad = servers[garbage.address]["rejects"]
        assert sum(bad.values()) >= 1 and servers[garbage.address]["accepted"] == 0
        assert client.get_time().status == "SYNCHRONIZED"
    finally:
        dead.stop()
        garbage.stop()


def test_outage_goes_free_running_and_recovers_without_restart(chrony, daemon_factory, shm_path):
    proxy = FaultProxy(chrony.port).start()
    try:
        daemon_factory([proxy.address])
        client = ChronoTickClient(shm_path)
        assert client.wait_for_sync(10)
        synced_unc = client.get_time().uncertainty_seconds
        proxy.faults.drop = 1.0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and client.get_time().status != "FREE_RUNNING":
            time.sleep(0.2)
        r = client.get_time()
        assert r.status == "FREE_RUNNING" and r.uncertainty_seconds > synced_unc
        proxy.faults.drop = 0.0
        t0 = time.monotonic()
        assert client.wait_for_sync(15)
        print(f"recovered {time.monotonic() - t0:.2f} s after the outage ended")
    finally:
        proxy.stop()


def test_a_daemon_stopped_before_its_first_estimate_reads_stopped_everywhere(
    daemon_factory, shm_path, tmp_path
):
    """CLI, Python, C and MCP all say STOPPED (never synchronised) and name the server's failure;
    none says to retry, and the CLI shows no publish rate or key-exchange schedule."""
    import os
    import shutil

    from chronotick_engine import NotReadyError, Status
    from chronotick_engine.protocol.paths import detail_path
    from chronotick_engine.testing.localntp import free_tcp_port

    d = daemon_factory([{"host": "127.0.0.1", "nts": True, "nts_ke_port": free_tcp_port()}])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        servers = d.status_file().get("servers", []) if os.path.exists(detail_path(shm_path)) else []
        if servers and "next key exchange" in (servers[0]["last_error"] or ""):
            break  # the NTS-KE retry schedule, which a stopped daemon must not show
        time.sleep(0.2)
    assert "next key exchange" in d.status_file()["servers"][0]["last_error"]
    assert d.stop(signal.SIGTERM) == 0

    client = ChronoTickClient(shm_path)
    assert client.status() is Status.STOPPED
    with pytest.raises(NotReadyError) as err:
        client.get_time()
    text = str(err.value)
    assert "STOPPED" in text and "Connection refused" in text, text
    assert "retry" not in text and "next key exchange" not in text and "wait_for_sync" not in text

    cli = BIN / "chronotick-client"
    status = subprocess.run(
        [str(cli), "status", "--shm-path", shm_path], capture_output=True, text=True, timeout=30
    )
    assert status.returncode == 1 and "STOPPED" in status.stdout, status
    assert "publish rate" not in status.stdout and "next key exchange" not in status.stdout, status.stdout
    read = subprocess.run(
        [str(cli), "read", "--shm-path", shm_path], capture_output=True, text=True, timeout=30
    )
    assert read.returncode == 1 and read.stderr.count("\n") == 1 and "STOPPED" in read.stderr, read

    cc = shutil.which("cc")
    if cc is not None:
        example = tmp_path / "example"
        subprocess.run(
            [cc, "-std=c11", "-O2", "-o", str(example), str(REPO / "clients/c/example.c"), "-lm"], check=True
        )
        c = subprocess.run([str(example), shm_path], capture_output=True, text=True, timeout=30)
        assert c.returncode == 1 and "STOPPED" in c.stderr and "retry" not in c.stderr, c

    out = call_stdio_tool(shm_path, "get_daemon_status")
    assert out["status"] == "STOPPED" and "Connection refused" in out["summary"], out
    assert "next key exchange" not in out["summary"], out["summary"]


def test_exchanges_are_kernel_stamped_and_fall_back_to_user_space(
    chrony, nts_chrony, pki, daemon_factory, shm_path
):
    """The kernel stamps both datagrams, plain and NTS; forced off, the status says `user`."""
    import os

    from daemonproc import nts_entry

    d = daemon_factory([chrony.address, nts_entry(nts_chrony.nts_port, pki[0])])
    assert ChronoTickClient(shm_path).wait_for_sync(10)
    servers = d.status_file()["servers"]
    assert [s["timestamping"] for s in servers] == ["kernel", "kernel"], servers
    assert servers[1]["authenticated"]
    d.stop()
    user = daemon_factory([chrony.address], env={**os.environ, "CHRONOTICK_USER_TIMESTAMPS": "1"})
    assert ChronoTickClient(shm_path).wait_for_sync(10)
    assert user.status_file()["servers"][0]["timestamping"] == "user"
