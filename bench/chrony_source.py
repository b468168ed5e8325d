"""chrony mode on loopback: its hard and 95% half-widths against chronyd's own root_delay/2 +
root_dispersion, and the daemon's CPU at 100 Hz with the chrony source and the ClockBound output
on, against plain NTS, interleaved (A B A B ...), each measured from /proc schedstat.

A loopback chronyd serves NTP and NTS; a second chronyd (-x, the clock untouched) follows it and
is the "host" chronyd whose command socket chrony mode reads. One JSON line per figure.

    .venv/bin/python bench/chrony_source.py [--rounds 3] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from daemon_load import ROOT_ARGS, cpu_seconds

from chronotick_engine import ChronoTickClient
from chronotick_engine.protocol import detail_path, lock_path
from chronotick_engine.testing.certs import TestCA
from chronotick_engine.testing.localntp import LocalChrony, LocalChronyClient

BIN = Path(sys.executable).parent


def config(mode: str, server: LocalChrony, ca_file: str, host: LocalChronyClient, cb_path: str) -> str:
    nts = json.dumps([{"host": "127.0.0.1", "nts": True, "nts_ke_port": server.nts_port, "ca_file": ca_file}])
    text = (
        f"clock_measurement:\n  ntp:\n    servers: {nts}\n"
        "  timing:\n    warm_up: {duration_seconds: 0, measurement_interval: 5}\n"
        "    normal_operation: {measurement_interval: 5}\n"
    )
    if mode == "chrony+clockbound":
        text += f"  chrony: {{socket: {host.socket}}}\nclockbound: {{path: {cb_path}}}\n"
    return text + "daemon:\n  freq_hz: 100\n"


def run_daemon(mode: str, server, ca_file, host, seconds: float, work: Path) -> dict:
    path = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
    cfg = work / f"{mode}.yaml"
    cfg.write_text(config(mode, server, ca_file, host, str(work / "shm0")))
    proc = subprocess.Popen(
        [
            str(BIN / "chronotick-daemon"),
            "--config",
            str(cfg),
            "--shm-path",
            path,
            "--log-level",
            "WARNING",
            *ROOT_ARGS,
        ]
    )
    try:
        client = ChronoTickClient(path)
        assert client.wait_for_sync(20), f"{mode}: no sync"
        time.sleep(2)
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        widths = []
        while time.monotonic() - t0 < seconds:
            time.sleep(1.0)
            if mode != "nts":
                d = json.loads(Path(detail_path(path)).read_text())
                ch = d["chrony"]
                r = client.get_time()
                widths.append(
                    (
                        ch["root_delay_ms"] / 2 + ch["root_dispersion_ms"],
                        (d["hard_interval_ms"][1] - d["hard_interval_ms"][0]) / 2,
                        r.uncertainty_seconds * 1e3,
                        abs(r.offset_correction) <= r.uncertainty_seconds,
                    )
                )
        cpu = (cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)
        return {"cpu": cpu, "widths": widths}
    finally:
        proc.terminate()
        proc.wait(15)
        for p in (path, lock_path(path), detail_path(path)):
            Path(p).unlink(missing_ok=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chronotick-bench-chrony-"))
    ca = TestCA(work / "pki")
    cert = ca.issue("server", ["localhost"], ["127.0.0.1"])
    with LocalChrony(nts=cert) as server, LocalChronyClient([("127.0.0.1", server.port)], poll=0) as host:
        cpu: dict[str, list[float]] = {"nts": [], "chrony+clockbound": []}
        widths = []
        for _ in range(args.rounds):
            for mode in cpu:  # interleaved: A B A B ...
                r = run_daemon(mode, server, str(ca.ca_file), host, args.seconds, work)
                cpu[mode].append(r["cpu"])
                widths += r["widths"]
    med = {m: statistics.median(v) for m, v in cpu.items()}
    print(
        json.dumps(
            {
                "benchmark": "chrony_source_cpu",
                "freq_hz": 100,
                "rounds": args.rounds,
                "seconds_each": args.seconds,
                "nts_cpu_percent_median": round(med["nts"] * 100, 3),
                "chrony_clockbound_cpu_percent_median": round(med["chrony+clockbound"] * 100, 3),
                "ratio": round(med["chrony+clockbound"] / med["nts"], 3),
                "runs": {m: [round(x * 100, 3) for x in v] for m, v in cpu.items()},
            }
        )
    )
    chronyd_half = [w[0] for w in widths]
    print(
        json.dumps(
            {
                "benchmark": "chrony_source_halfwidths",
                "samples": len(widths),
                "chronyd_root_delay_half_plus_dispersion_us_median": round(
                    statistics.median(chronyd_half) * 1e3, 3
                ),
                "hard_halfwidth_us_median": round(statistics.median(w[1] for w in widths) * 1e3, 3),
                "halfwidth95_us_median": round(statistics.median(w[2] for w in widths) * 1e3, 3),
                "truth_inside_95_share": round(sum(w[3] for w in widths) / max(1, len(widths)), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
