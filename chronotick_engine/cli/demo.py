"""Offline demo (`make demo`): a real chronyd on loopback, the daemon against it, live readings."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from chronotick_engine.client import ChronoTickClient
from chronotick_engine.testing.localntp import LocalChrony


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="chronotick-demo")
    p.add_argument("--shm-path", default="/dev/shm/chronotick_demo")
    p.add_argument("--seconds", type=float, default=15.0)
    args = p.parse_args(argv)
    with LocalChrony() as ntp:
        print(f"chronyd serving NTP on {ntp.address}", flush=True)
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chronotick_engine.cli.daemon",
                "--server",
                ntp.address,
                "--shm-path",
                args.shm_path,
                # A demo in a root shell (containers, CI) is the one place the root refusal is in the way.
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ]
        )
        try:
            client = ChronoTickClient(args.shm_path)
            start = time.monotonic()
            synced = client.wait_for_sync(15)
            print(
                f"daemon {'SYNCHRONIZED' if synced else 'NOT synchronised'} after {time.monotonic() - start:.1f} s"
            )
            end = time.monotonic() + args.seconds
            while time.monotonic() < end:
                r = client.get_time()
                print(
                    f"{r.corrected_timestamp:.6f}  ±{r.uncertainty_seconds * 1e3:.3f} ms  {r.status}",
                    flush=True,
                )
                time.sleep(1)
            return 0 if synced else 1
        finally:
            daemon.terminate()
            daemon.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
