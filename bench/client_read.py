"""Read cost of ChronoTickClient, native fast path and pure Python, against time.time_ns(), all
interleaved in one run (each repeat times every call in turn). Prints one JSON line."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import synced_snapshot  # noqa: E402

from chronotick_engine import ChronoTickClient  # noqa: E402
from chronotick_engine.client import PURE_PYTHON_ENV, native_available  # noqa: E402
from chronotick_engine.protocol import Publisher, lock_path  # noqa: E402

ITERATIONS, REPEATS = 200_000, 9
TARGETS = {"native_now_ns_ratio_max": 2.0, "native_get_time_ns_max": 500, "pure_now_ns_ratio_max": 6.0}


def per_call_ns(fn, n: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n


def main() -> None:
    path = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
    with Publisher(path) as pub:
        m = time.monotonic_ns()
        pub.publish(synced_snapshot(last_publish_mono_ns=m, void_after_mono_ns=m + 600 * 10**9))
        os.environ[PURE_PYTHON_ENV] = "1"
        pure = ChronoTickClient(path)
        os.environ.pop(PURE_PYTHON_ENV)
        calls = {"time_ns": (time.time_ns, ITERATIONS), "pure_now_ns": (pure.now_ns, ITERATIONS)}
        calls["pure_get_time"] = (pure.get_time, ITERATIONS // 10)
        if native_available():
            native = ChronoTickClient(path)
            calls["native_now_ns"] = (native.now_ns, ITERATIONS)
            calls["native_get_time"] = (native.get_time, ITERATIONS // 10)
        for fn, _ in calls.values():
            fn()  # map and validate once
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(REPEATS):
            for name, (fn, n) in calls.items():
                samples[name].append(per_call_ns(fn, n))
    for p in (path, lock_path(path)):
        Path(p).unlink(missing_ok=True)
    med = {name: statistics.median(v) for name, v in samples.items()}
    ref = med["time_ns"]
    result = {
        "benchmark": "client_read",
        "iterations": ITERATIONS,
        "repeats": REPEATS,
        "native": native_available(),
    }
    for name, ns in med.items():
        result[f"{name}_ns"] = round(ns, 1)
        if name != "time_ns":
            result[f"{name}_ratio"] = round(ns / ref, 2)
    result["targets"] = TARGETS
    print(json.dumps(result))


if __name__ == "__main__":
    main()
