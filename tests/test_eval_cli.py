"""`chronotick-eval` as a user runs it: simulate, replay --json, plot, and its one-line errors."""

from __future__ import annotations

import json
import subprocess

from conftest import BIN


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "chronotick-eval"), *args], capture_output=True, text=True, timeout=120)


def test_simulate_replay_and_plot(tmp_path):
    trace = tmp_path / "step.csv"
    assert run("simulate", "clock-step", "--out", str(trace), "--seed", "3").returncode == 0
    r = run("replay", str(trace), "--poll-every", "2", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["poll_every"] == 2 and report["points"] > 50
    assert {"chronotick", "system", "hold-last", "median-8", "wls"} <= report["estimators"].keys()
    png = tmp_path / "step.png"
    p = run("plot", str(trace), "--out", str(png))
    assert p.returncode == 0, p.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_bad_trace_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,ntp_offset_s\n0,0.001\n1,not-a-number\n")
    r = run("replay", str(bad), "--json")
    assert r.returncode == 2 and "bad.csv:3" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = run("replay", str(tmp_path / "missing.csv"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
