"""Read cost of ChronoTickClient against time.time_ns() in the same run. Prints one JSON line."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import synced_snapshot  # noqa: E402

from chronotick_engine import ChronoTickClient  # noqa: E402
from chronotick_engine.cli.client import benchmark  # noqa: E402
from chronotick_engine.protocol import Publisher, lock_path  # noqa: E402


def main() -> None:
    path = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
    with Publisher(path) as pub:
        m = time.monotonic_ns()
        pub.publish(synced_snapshot(last_publish_mono_ns=m, void_after_mono_ns=m + 600 * 10**9))
        result = benchmark(ChronoTickClient(path), iterations=200_000, repeats=7)
    for p in (path, lock_path(path)):
        Path(p).unlink(missing_ok=True)
    result["targets"] = {"now_ns_ratio_max": 6.0, "get_time_ns_max": 2000}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
