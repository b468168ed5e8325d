"""The example agents run from the command line and fail clearly when something is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from conftest import REPO, synced_snapshot

from chronotick_engine.protocol import Publisher

EXAMPLES = REPO / "agents" / "examples"


def run(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_sdk_agent_without_key_says_what_is_missing():
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    out = run("sdk_agent.py", "hello", env=env)
    assert out.returncode == 2
    assert "missing" in out.stderr and "ANTHROPIC_API_KEY" in out.stderr and "Traceback" not in out.stderr


def test_direct_client_without_daemon(shm_path):
    out = run("direct_client.py", env={**os.environ, "CHRONOTICK_SHM_PATH": shm_path})
    assert out.returncode == 1 and "Traceback" not in out.stderr


def test_coordination_spread_within_bound(shm_path):
    with Publisher(shm_path) as pub:
        m = time.monotonic_ns()
        pub.publish(synced_snapshot(last_publish_mono_ns=m, void_after_mono_ns=m + 60 * 10**9))
        out = run("coordinate.py", "--workers", "3", "--lead", "0.5", "--shm-path", shm_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["workers"] == 3 and 0 <= report["max_late_ms"] < 50
