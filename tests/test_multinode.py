"""The multi-node test (tests/multinode.py) inside the main suite, where network namespaces work."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.integration


def test_three_nodes_act_together_within_their_bounds():
    r = subprocess.run(
        [sys.executable, str(REPO / "tests" / "multinode.py")], capture_output=True, text=True, timeout=300
    )
    if r.returncode == 77:
        pytest.skip(r.stderr.strip())
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    print(json.dumps(report))
    assert report["within_bound"] and report["actions"] == 3
    assert all(
        s["status"] == "SYNCHRONIZED" and s["truth_inside_bound"] for s in report["node_states"].values()
    )


def test_the_direct_node_holds_the_truth_under_cpu_and_gil_load():
    """The load mode: CPU hogs on both cores and a thread in every daemon holding the GIL 20 ms in
    every 100; four daemons on direct paths, each read ten times: the exact truth (one kernel
    clock) inside the 95% interval at least 95% of the time."""
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "multinode.py"),
            "--load",
            "--coverage",
            "4",
            "--samples",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode == 77:
        pytest.skip(r.stderr.strip())
    report = json.loads(r.stdout.strip().splitlines()[-1])
    print(json.dumps(report))
    assert r.returncode == 0 and report["coverage"] >= 0.95, r.stdout + r.stderr
    assert report["statuses"] == {"SYNCHRONIZED": 40}, report
