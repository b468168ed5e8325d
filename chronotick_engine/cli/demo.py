"""Offline demo (`make demo`): a real chronyd on loopback serving NTS under a demo CA, the daemon
against it with `nts: true`, live readings, and whether the time was authenticated."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chronotick_engine.client import ChronoTickClient
from chronotick_engine.testing.certs import TestCA
from chronotick_engine.testing.localntp import LocalChrony


def _config(directory: Path, ntp: LocalChrony, ca_file: Path) -> Path:
    server = {"host": "127.0.0.1", "nts": True, "nts_ke_port": ntp.nts_port, "ca_file": str(ca_file)}
    path = directory / "demo.yaml"
    path.write_text(
        f"clock_measurement:\n  ntp:\n    servers: [{json.dumps(server)}]\n    burst_interval_seconds: 0.5\n"
    )
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="chronotick-demo")
    p.add_argument("--shm-path", default="/dev/shm/chronotick_demo")
    p.add_argument("--seconds", type=float, default=15.0)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chronotick-demo-") as tmp:
        ca = TestCA(Path(tmp), name="ChronoTick demo CA")
        with LocalChrony(nts=ca.issue("demo", ["localhost"], ["127.0.0.1"])) as ntp:
            print(f"chronyd serving NTP on {ntp.address}, NTS-KE on port {ntp.nts_port}", flush=True)
            daemon = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "chronotick_engine.cli.daemon",
                    "--config",
                    str(_config(Path(tmp), ntp, ca.ca_file)),
                    "--shm-path",
                    args.shm_path,
                    # A demo in a root shell (containers, CI) is the one place the root refusal is in the way.
                    *(["--allow-root"] if os.geteuid() == 0 else []),
                ]
            )
            try:
                return _show(ChronoTickClient(args.shm_path), args.seconds)
            finally:
                daemon.terminate()
                daemon.wait(10)


def _show(client: ChronoTickClient, seconds: float) -> int:
    start = time.monotonic()
    synced = client.wait_for_sync(15)
    print(f"daemon {'SYNCHRONIZED' if synced else 'NOT synchronised'} after {time.monotonic() - start:.1f} s")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r = client.get_time()
        print(f"{r.corrected_timestamp:.6f}  ±{r.uncertainty_seconds * 1e3:.3f} ms  {r.status}", flush=True)
        time.sleep(1)
    detail = client.get_daemon_detail()
    for srv in detail.servers if detail is not None else []:
        state = "NTS authenticated" if srv.authenticated else f"not authenticated ({srv.last_error})"
        print(f"server {srv.server}: {state}, {srv.accepted} samples accepted")
    return 0 if synced else 1


if __name__ == "__main__":
    raise SystemExit(main())
