"""The host's chronyd as the source: a real chronyd client (-x, the clock untouched) of loopback
chrony servers, read through its command socket; the NTS guard against a chronyd that follows a
lying plain server; and the status when chronyd goes away."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from conftest import BIN
from daemonproc import DaemonProc, nts_entry, write_config
from faultproxy import FaultProxy
from mcpwire import call_stdio_tool

from chronotick_engine import ChronoTickClient
from chronotick_engine.protocol.clockbound import decode
from chronotick_engine.testing.localntp import LocalChronyClient

pytest.importorskip("pychrony", reason="the chrony source needs the `chrony` extra (pychrony)")
pytestmark = pytest.mark.integration


def chrony_config(tmp_path, servers: list, host: LocalChronyClient) -> Path:
    """A daemon config in chrony mode (read four times a second), with a ClockBound segment."""
    path = write_config(tmp_path, servers, extra=f"clockbound: {{path: {tmp_path / 'shm0'}}}\n")
    text = path.read_text().replace(
        "  timing:", f"  chrony: {{socket: {host.socket}, poll_seconds: 0.25}}\n  timing:", 1
    )
    path.write_text(text)
    return path


def status(shm_path: str) -> dict:
    out = subprocess.run(
        [str(BIN / "chronotick-client"), "status", "--json", "--shm-path", shm_path],
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def wait_for(predicate, timeout: float, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


def chronyc_bound(host: LocalChronyClient) -> tuple[float, float]:
    """(ref_time, root_delay/2 + root_dispersion + |correction|) from `chronyc -c tracking`."""
    out = subprocess.run(
        ["chronyc", "-h", host.socket, "-c", "tracking"], capture_output=True, text=True, timeout=10
    )
    f = out.stdout.strip().split(",")
    return float(f[3]), float(f[10]) / 2 + float(f[11]) + abs(float(f[4]))


def test_chrony_mode_synchronises_with_chronyds_bound_and_holds_the_truth(chrony, shm_path, tmp_path):
    with LocalChronyClient([("127.0.0.1", chrony.port)], poll=2) as host:
        cfg = chrony_config(tmp_path, [chrony.address], host)
        d = DaemonProc(cfg, shm_path)
        try:
            client = ChronoTickClient(shm_path)
            assert client.wait_for_sync(20), d.proc.stderr.read() if d.proc.poll() is not None else "no sync"
            # The hard bound is ClockBound's formula on chronyd's own report, read at the same time.
            matched = 0
            for _ in range(40):
                ref_before, formula = chronyc_bound(host)
                detail = status(shm_path)["detail"]
                ref_after, _ = chronyc_bound(host)
                ch = detail["chrony"]
                if ref_before != ref_after or abs(ch["reference_age_s"]) > 30:
                    continue
                ours = abs(ch["correction_ms"]) + ch["root_delay_ms"] / 2 + ch["root_dispersion_ms"]
                if abs(ours / 1e3 - formula) <= 1e-6:
                    matched += 1
                    # the published hard bound: that, grown by the drift allowance since the read
                    assert detail["hard_bound_ms"] / 1e3 >= formula - 1e-6
                    assert detail["hard_bound_ms"] / 1e3 <= formula + 1e-6 + 20e-6
                time.sleep(0.1)
            print("matched", matched)
            assert matched >= 5, f"only {matched} reads matched chronyc's report"
            # Every process on loopback shares one kernel clock: the true offset is 0.
            inside = 0
            for _ in range(1000):
                r = client.get_time()
                inside += abs(r.offset_correction) <= r.uncertainty_seconds
                time.sleep(0.002)
            print("inside", inside, "cb bound ns", decode((tmp_path / "shm0").read_bytes())[1].bound_ns)
            assert inside >= 950, inside
            _, rec = decode((tmp_path / "shm0").read_bytes())
            assert rec.status == 1 and rec.bound_ns < 1_000_000  # microseconds, not milliseconds
        finally:
            d.stop()


def test_nts_guard_catches_chronyd_following_a_liar_and_recovers(chrony, nts_chrony, pki, shm_path, tmp_path):
    liar = FaultProxy(chrony.port).start()
    try:
        with LocalChronyClient([("127.0.0.1", liar.port)]) as host:
            cfg = chrony_config(tmp_path, [nts_entry(nts_chrony.nts_port, pki[0])], host)
            d = DaemonProc(cfg, shm_path)
            try:
                client = ChronoTickClient(shm_path)
                assert client.wait_for_sync(20)
                liar.faults.shift_s = 0.05
                # chronyd follows the lie; the guard sees it within 3 checks of it.
                assert wait_for(lambda: client.status().name == "DISRUPTED", 30), status(shm_path)
                guard = status(shm_path)["detail"]["chrony"]["nts_guard"]
                assert guard["disrupted"] and guard["disagreement_ms"] > 0, guard
                lo, hi = guard["chrony_interval_ms"]
                assert 40 < (lo + hi) / 2 < 60, guard  # chronyd's view: the system clock 50 ms slow
                mcp = call_stdio_tool(shm_path, "get_daemon_status")
                assert mcp["status"] == "DISRUPTED" and mcp["chrony_nts_disagreement_ms"] > 0, mcp
                assert "NTS-authenticated" in mcp["summary"], mcp["summary"]
                liar.faults.shift_s = 0.0
                assert wait_for(lambda: client.status().name == "SYNCHRONIZED", 60), status(shm_path)
            finally:
                d.stop()
            log = d.proc.stderr.read()
            assert "have not overlapped for 3 checks" in log and "agree again" in log, log[-2000:]
    finally:
        liar.stop()


def test_chronyd_stopped_leaves_synchronized_with_a_reason(chrony, shm_path, tmp_path):
    with LocalChronyClient([("127.0.0.1", chrony.port)]) as host:
        cfg = chrony_config(tmp_path, [chrony.address], host)
        d = DaemonProc(cfg, shm_path)
        try:
            client = ChronoTickClient(shm_path)
            assert client.wait_for_sync(20)
            host.stop()
            stopped = time.monotonic()
            assert wait_for(lambda: client.status().name != "SYNCHRONIZED", 10)
            assert time.monotonic() - stopped < 3 * 0.25 + 2.5  # the freshness limit, plus a poll
            problem = wait_for(lambda: status(shm_path)["detail"]["chrony"]["problem"], 5)
            assert problem and "does not answer" in problem and "\n" not in problem, problem
        finally:
            d.stop()
