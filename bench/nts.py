"""NTS on loopback: key-exchange time, per-exchange CPU against plain NTP, and time to the first
SYNCHRONIZED, each against its plain-NTP reference measured in the same run, interleaved.

- ke: NTS-KE with chronyd's NTS server (and ntpsec's, when it is unpacked in .tools/ntpsec and its
  fixed ports are free), wall time per key exchange.
- exchange: one NTS-protected exchange against one plain exchange with the same chronyd,
  alternating; CPU time of this process per exchange (time.process_time), and wall time.
- sync: the real daemon from spawn to the first SYNCHRONIZED on one NTS server against one plain
  server, alternating runs, with the loopback config the tests use (bursts 0.5 s apart) and with
  the shipped default's burst interval (1 s).

    python bench/nts.py [--ke N] [--exchanges N] [--sync-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from chronotick_engine import ChronoTickClient
from chronotick_engine.measure.ntp import query
from chronotick_engine.measure.nts import NtsSession
from chronotick_engine.measure.nts_ke import key_exchange
from chronotick_engine.protocol import detail_path, lock_path
from chronotick_engine.testing.certs import TestCA
from chronotick_engine.testing.localntp import LocalChrony
from chronotick_engine.testing.ntpsec import LocalNtpsec, ports_free

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
ROOT_ARGS = ["--allow-root"] if os.geteuid() == 0 else []


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def ke_times(host: str, port: int, ca_file: str, n: int) -> dict:
    key_exchange(host, port, ca_file, 5.0)  # warm: imports, first context
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        key_exchange(host, port, ca_file, 5.0)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"n": n, "p50_ms": round(statistics.median(times), 3), "p95_ms": round(pct(times, 0.95), 3)}


def exchange_cost(ntp: LocalChrony, ca_file: str, n: int) -> dict:
    session = NtsSession("bench", "127.0.0.1", None, ntp.nts_port or 0, ca_file)
    session.query(1.0, 1.0)
    query("127.0.0.1", ntp.port, 1.0, 1.0)
    cpu = {"plain": [], "nts": []}
    wall = {"plain": [], "nts": []}
    for _ in range(n):
        for kind in ("plain", "nts"):
            c0, w0 = time.process_time(), time.perf_counter()
            if kind == "plain":
                query("127.0.0.1", ntp.port, 1.0, 1.0)
            else:
                session.query(1.0, 1.0)
            cpu[kind].append(time.process_time() - c0)
            wall[kind].append(time.perf_counter() - w0)
    mean = {k: statistics.fmean(v) * 1e6 for k, v in cpu.items()}
    med = {k: statistics.median(v) * 1e6 for k, v in wall.items()}
    return {
        "exchanges_each": n,
        "cpu_us_per_exchange": {k: round(v, 1) for k, v in mean.items()},
        "cpu_ratio_nts_to_plain": round(mean["nts"] / mean["plain"], 3),
        "wall_us_p50": {k: round(v, 1) for k, v in med.items()},
        "wall_ratio_nts_to_plain": round(med["nts"] / med["plain"], 3),
        "key_exchanges": session.key_exchanges,
    }


def time_to_sync(server: str, burst_s: float) -> float:
    path = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
    cfg = Path(path + ".yaml")
    cfg.write_text(
        f"clock_measurement:\n  ntp:\n    servers: [{server}]\n    burst_interval_seconds: {burst_s}\n"
        "daemon:\n  freq_hz: 100\n"
    )
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(BIN / "chronotick-daemon"), "--config", str(cfg), "--shm-path", path, *ROOT_ARGS],
        stderr=subprocess.DEVNULL,
    )
    try:
        client = ChronoTickClient(path)
        while time.monotonic() - t0 < 20:
            try:
                if client.get_daemon_info().status == "SYNCHRONIZED":
                    return time.monotonic() - t0
            except Exception:
                pass  # the segment does not exist yet
            time.sleep(0.01)
        raise RuntimeError(f"no SYNCHRONIZED within 20 s on {server}")
    finally:
        proc.terminate()
        proc.wait(15)
        for p in (path, lock_path(path), detail_path(path), str(cfg)):
            Path(p).unlink(missing_ok=True)


def sync_times(ntp: LocalChrony, ca_file: str, runs: int, burst_s: float) -> dict:
    nts = json.dumps({"host": "127.0.0.1", "nts": True, "nts_ke_port": ntp.nts_port, "ca_file": ca_file})
    plain = f"'{ntp.address}'"
    got: dict[str, list[float]] = {"nts": [], "plain": []}
    for _ in range(runs):
        got["nts"].append(time_to_sync(nts, burst_s))
        got["plain"].append(time_to_sync(plain, burst_s))
    med = {k: statistics.median(v) for k, v in got.items()}
    return {
        "burst_interval_s": burst_s,
        "runs_each": runs,
        "seconds_p50": {k: round(v, 3) for k, v in med.items()},
        "seconds_max": {k: round(max(v), 3) for k, v in got.items()},
        "ratio_nts_to_plain": round(med["nts"] / med["plain"], 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ke", type=int, default=50)
    p.add_argument("--exchanges", type=int, default=2000)
    p.add_argument("--sync-runs", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="chronotick-bench-nts-") as tmp:
        ca = TestCA(Path(tmp))
        cert = ca.issue("server", ["localhost"], ["127.0.0.1"])
        ca_file = str(ca.ca_file)
        with LocalChrony(nts=cert) as ntp:
            assert ntp.nts_port is not None
            ke = {"chrony": ke_times("127.0.0.1", ntp.nts_port, ca_file, args.ke)}
            print(json.dumps({"benchmark": "nts", "measure": "ke", **ke}), flush=True)
            out = {"benchmark": "nts", "measure": "exchange", **exchange_cost(ntp, ca_file, args.exchanges)}
            print(json.dumps(out), flush=True)
            for burst in (0.5, 1.0):
                out = {
                    "benchmark": "nts",
                    "measure": "sync",
                    **sync_times(ntp, ca_file, args.sync_runs, burst),
                }
                out["target_nts_seconds_max"] = 3.0
                print(json.dumps(out), flush=True)
        ntpd = ROOT / ".tools/ntpsec/usr/sbin/ntpd"
        if ntpd.exists() and os.geteuid() == 0 and ports_free():
            with LocalNtpsec(str(ntpd), cert):
                print(
                    json.dumps(
                        {
                            "benchmark": "nts",
                            "measure": "ke",
                            "ntpsec": ke_times("127.0.0.1", 4460, ca_file, args.ke),
                        }
                    ),
                    flush=True,
                )
        else:
            print(
                json.dumps(
                    {
                        "benchmark": "nts",
                        "measure": "ke",
                        "ntpsec": "not run: needs .tools/ntpsec, root and ports 123/4460",
                    }
                )
            )


if __name__ == "__main__":
    main()
