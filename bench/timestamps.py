"""Kernel against user-space timestamps on one exchange: --queries NTP queries to a loopback
chronyd, alternating the two (CHRONOTICK_USER_TIMESTAMPS toggled between queries), medians of
the measured delay and |offset| (the truth is 0 on loopback). Prints one JSON line.

    .venv/bin/python bench/timestamps.py [--queries 400]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from chronotick_engine.measure.ntp import USER_TIMESTAMPS_ENV, query
from chronotick_engine.testing.localntp import LocalChrony


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=400)
    a = p.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {"kernel": [], "user": []}
    seen: set[str] = set()
    with LocalChrony() as ntp:
        host, port = ntp.bind, ntp.port
        for i in range(2 * a.queries):
            mode = "user" if i % 2 else "kernel"
            if mode == "user":
                os.environ[USER_TIMESTAMPS_ENV] = "1"
            else:
                os.environ.pop(USER_TIMESTAMPS_ENV, None)
            x = query(host, int(port), 1.0, 1.0)
            seen.add(x.timestamping)
            runs[mode].append((x.delay * 1e6, abs(x.offset) * 1e6))
            time.sleep(0.01)
    os.environ.pop(USER_TIMESTAMPS_ENV, None)
    out = {"benchmark": "timestamps", "queries_each": a.queries, "timestamping_seen": sorted(seen)}
    for mode, xs in runs.items():
        arr = np.array(xs)
        out[f"{mode}_delay_p50_us"] = round(float(np.median(arr[:, 0])), 2)
        out[f"{mode}_delay_p99_us"] = round(float(np.percentile(arr[:, 0], 99)), 2)
        out[f"{mode}_abs_offset_p50_us"] = round(float(np.median(arr[:, 1])), 2)
    out["kernel_over_user_delay"] = round(out["kernel_delay_p50_us"] / out["user_delay_p50_us"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
