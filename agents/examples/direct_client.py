"""Read corrected time straight from the segment: `python agents/examples/direct_client.py`."""

from __future__ import annotations

import os
import sys

from chronotick_engine import ChronoTickClient, ChronoTickError


def main() -> int:
    client = ChronoTickClient(os.environ.get("CHRONOTICK_SHM_PATH", "/dev/shm/chronotick_shm"))
    try:
        if not client.wait_for_sync(10):
            print(
                f"ChronoTick is not synchronised (status {client.status().name}); is chronotick-daemon running?"
            )
            return 1
        r = client.get_time()
    except ChronoTickError as exc:
        print(f"ChronoTick unavailable: {exc}", file=sys.stderr)
        return 1
    print(
        f"corrected {r.corrected_timestamp:.6f}  ±{r.uncertainty_seconds * 1e3:.3f} ms  ({r.status}, {r.source})"
    )
    print(f"system    {r.system_timestamp:.6f}  offset {r.offset_correction * 1e3:+.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
