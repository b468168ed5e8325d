"""Distributed coordination: N processes agree on a future instant and act within their error bars.

`python agents/examples/coordinate.py --workers 4 --lead 0.5` prints JSON with the achieved spread
of the actions (on the reference clock) against the published bounds. Run one per node with the
same --at to coordinate across machines.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time

from chronotick_engine import ChronoTickClient, ChronoTickError
from chronotick_engine.protocol import default_path


def _act(shm_path: str, at: float, out) -> None:
    client = ChronoTickClient(shm_path)
    woke = client.wait_until(at, tolerance_ms=1.0)
    system = time.time()  # this host's raw clock at the action: what a test compares across nodes
    r = client.get_time()
    out.put(
        {
            "pid": os.getpid(),
            "acted_at": woke,
            "system_acted_at": system,
            "uncertainty_ms": r.uncertainty_seconds * 1e3,
        }
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--lead", type=float, default=0.5, help="seconds from now to the agreed instant")
    p.add_argument("--at", type=float, help="agreed corrected Unix time (for several nodes)")
    p.add_argument("--shm-path", default=default_path())
    args = p.parse_args(argv)
    try:
        client = ChronoTickClient(args.shm_path)
        now = client.get_time()
    except ChronoTickError as exc:
        print(f"coordinate: ChronoTick unavailable: {exc}", file=sys.stderr)
        return 1
    at = args.at if args.at is not None else now.corrected_timestamp + args.lead
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_act, args=(args.shm_path, at, out)) for _ in range(args.workers)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join()
    acted = [r["acted_at"] for r in results]
    report = {
        "target": at,
        "workers": len(results),
        "spread_ms": (max(acted) - min(acted)) * 1e3,
        "max_late_ms": (max(acted) - at) * 1e3,
        "bound_ms": max(r["uncertainty_ms"] for r in results),
        "status": now.status,
        "actions": results,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
