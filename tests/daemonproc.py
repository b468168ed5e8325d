"""The real chronotick-daemon as a subprocess, with a loopback-friendly config."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chronotick_engine.protocol.paths import detail_path

BIN = Path(sys.executable).parent
# The daemon refuses root without --allow-root; CI runs as root.
ROOT_ARGS = ["--allow-root"] if os.geteuid() == 0 else []


def nts_entry(ke_port: int, ca, host: str = "127.0.0.1", **more) -> dict:
    """A config server entry for an NTS server on loopback whose certificate `ca` (a TestCA) signed."""
    return {"host": host, "nts": True, "nts_ke_port": ke_port, "ca_file": str(ca.ca_file), **more}


def write_config(
    tmp_path: Path, servers: list[str | dict], extra: str = "", timeout_s: float = 0.5, **daemon
) -> Path:
    """A daemon config for loopback servers with fast polling; `extra` is appended YAML. A server is
    a string or a mapping entry (NTS)."""
    lines = [
        "clock_measurement:",
        "  ntp:",
        "    servers: [" + ", ".join(json.dumps(s) for s in servers) + "]",
        f"    timeout_seconds: {timeout_s}",
        "    burst_interval_seconds: 0.5",
        "  timing:",
        "    warm_up: {duration_seconds: 5, measurement_interval: 1}",
        "    normal_operation: {measurement_interval: 1}",
        "daemon:",
    ]
    lines += [f"  {k}: {v}" for k, v in daemon.items()] or ["  freq_hz: 100"]
    path = tmp_path / "chronotick.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


class DaemonProc:
    def __init__(self, config: Path, shm_path: str, env: dict[str, str] | None = None):
        self.shm_path = shm_path
        self.proc = subprocess.Popen(
            [str(BIN / "chronotick-daemon"), "--config", str(config), "--shm-path", shm_path, *ROOT_ARGS],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def status_file(self) -> dict:
        return json.loads(Path(detail_path(self.shm_path)).read_text())

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture
def daemon_factory(tmp_path, shm_path):
    """start(servers, extra="", timeout_s, env, **daemon_section) -> DaemonProc; all killed afterwards."""
    started: list[DaemonProc] = []

    def start(
        servers: list[str | dict],
        extra: str = "",
        timeout_s: float = 0.5,
        env: dict[str, str] | None = None,
        **daemon,
    ) -> DaemonProc:
        d = DaemonProc(write_config(tmp_path, servers, extra, timeout_s, **daemon), shm_path, env)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop(signal.SIGKILL)
