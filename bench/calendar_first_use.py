"""What the calendar tools' lazily imported libraries cost on first use, over stdio: each tool's
first call against its second, in a fresh server per run (the holidays package for business days,
dateparser for relative expressions, python-dateutil's rrule for recurrences). Prints one JSON line.

    python bench/calendar_first_use.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import synced_snapshot  # noqa: E402

from chronotick_engine.protocol import Publisher, lock_path  # noqa: E402

BIN = Path(sys.executable).parent
CALLS = {
    "date_info (no library)": ("date_info", {"date": "2027-03-01", "timezone": "Europe/Dublin"}),
    "time_between with business days (holidays)": (
        "time_between",
        {"start": "2026-12-01", "end": "2027-01-15", "business_days": {"country": "DE", "subdivision": "BY"}},
    ),
    "shift_time of 'tomorrow 9am' (dateparser)": ("shift_time", {"base": "tomorrow 9am", "hours": 1}),
    "next_occurrences (dateutil rrule)": ("next_occurrences", {"rrule": "FREQ=WEEKLY;BYDAY=MO", "count": 3}),
}


async def one_run(path: str) -> dict[str, tuple[float, float]]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=str(BIN / "chronotick-stdio-server"), args=["--shm-path", path], env={**os.environ}
    )
    out = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await session.call_tool("get_time", {})
        for label, (tool, args) in CALLS.items():
            times = []
            for _ in range(2):
                t = time.perf_counter()
                r = await session.call_tool(tool, args)
                times.append((time.perf_counter() - t) * 1e3)
                assert not r.is_error, r.content
            out[label] = (times[0], times[1])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    runs = p.parse_args().runs
    path = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
    results: dict[str, list[tuple[float, float]]] = {label: [] for label in CALLS}
    with Publisher(path) as pub:
        for _ in range(runs):
            m = time.monotonic_ns()
            pub.publish(
                synced_snapshot(last_publish_mono_ns=m + 600 * 10**9, void_after_mono_ns=m + 900 * 10**9)
            )
            for label, pair in asyncio.run(one_run(path)).items():
                results[label].append(pair)
    for f in (path, lock_path(path)):
        Path(f).unlink(missing_ok=True)
    table = {
        label: {
            "first_call_ms": round(statistics.median(p[0] for p in pairs), 1),
            "second_call_ms": round(statistics.median(p[1] for p in pairs), 1),
            "first_use_cost_ms": round(statistics.median(p[0] - p[1] for p in pairs), 1),
        }
        for label, pairs in results.items()
    }
    print(json.dumps({"benchmark": "calendar_first_use", "runs": runs, "calls": table}))


if __name__ == "__main__":
    main()
