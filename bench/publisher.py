"""The real daemon against a loopback chronyd: publish-period error and CPU at 100 and 1000 Hz.

A reader on the other core watches the segment's heartbeat; CPU comes from /proc/PID/stat.
Prints one JSON line per rate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from chronotick_engine import ChronoTickClient
from chronotick_engine.localntp import LocalChrony
from chronotick_engine.segment import SegmentReader

BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def measure(ntp: LocalChrony, freq: float, seconds: float) -> dict:
    path = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
    cfg = Path(path + ".yaml")
    cfg.write_text(
        f"clock_measurement:\n  ntp:\n    servers: ['{ntp.address}']\ndaemon:\n  freq_hz: {freq}\n"
    )
    proc = subprocess.Popen(
        [str(BIN / "chronotick-daemon"), "--config", str(cfg), "--shm-path", path, "--log-level", "WARNING"]
    )
    try:
        assert ChronoTickClient(path).wait_for_sync(15), "daemon did not synchronise"
        time.sleep(1.0)
        reader = SegmentReader(path)
        stamps: dict[int, int] = {}
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        while time.monotonic() - t0 < seconds:
            s = reader.read()
            stamps[s.publish_count] = s.last_publish_mono_ns
            time.sleep(0.0002)
        cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
        counts = sorted(stamps)
        pairs = [(a, b) for a, b in zip(counts, counts[1:], strict=False) if b == a + 1]
        periods = np.array([stamps[b] - stamps[a] for a, b in pairs]) / 1e6
        err = np.abs(periods - 1000.0 / freq)
        return {
            "benchmark": "publisher",
            "freq_hz": freq,
            "seconds": seconds,
            "periods_observed": int(periods.size),
            "period_error_p50_ms": round(float(np.percentile(err, 50)), 4),
            "period_error_p99_ms": round(float(np.percentile(err, 99)), 4),
            "daemon_cpu_percent_of_one_core": round(cpu * 100, 2),
            "targets": {"p99_ms_at_100hz": 1.0, "cpu_percent_at_100hz": 2.0},
        }
    finally:
        proc.terminate()
        proc.wait(15)
        for p in (path, path + ".lock", path + ".json", str(cfg)):
            Path(p).unlink(missing_ok=True)


def main() -> None:
    seconds = float(os.environ.get("CHRONOTICK_BENCH_SECONDS", "20"))
    with LocalChrony() as ntp:
        for freq in (100.0, 1000.0):
            print(json.dumps(measure(ntp, freq, seconds)), flush=True)


if __name__ == "__main__":
    main()
