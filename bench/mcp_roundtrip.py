"""get_time round trip over stdio and in process, against the official mcp-server-time's
get_current_time over the same transports, in the same run. Prints one JSON line."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import synced_snapshot  # noqa: E402
from fastmcp import Client  # noqa: E402
from fastmcp.client.transports import StdioTransport  # noqa: E402

from chronotick_engine.segment import Publisher  # noqa: E402
from chronotick_mcp.server import build_server  # noqa: E402

N = 300


async def timed(client: Client, tool: str, args: dict) -> dict:
    for _ in range(20):
        await client.call_tool(tool, args)
    samples = []
    for _ in range(N):
        t = time.perf_counter()
        await client.call_tool(tool, args)
        samples.append((time.perf_counter() - t) * 1e3)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 4), "p99_ms": round(samples[int(0.99 * N) - 1], 4)}


async def main() -> None:
    path = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
    bin_dir = Path(sys.executable).parent
    with Publisher(path) as pub:
        m = time.monotonic_ns()
        pub.publish(synced_snapshot(last_publish_mono_ns=m + 600 * 10**9, void_after_mono_ns=m + 900 * 10**9))
        async with Client(build_server(path)) as c:
            ours_mem = await timed(c, "get_time", {})
        async with Client(
            StdioTransport(str(bin_dir / "chronotick-stdio-server"), ["--shm-path", path])
        ) as c:
            ours_stdio = await timed(c, "get_time", {})
        from mcp_server_time.server import serve  # noqa: F401  (import check: the peer is installed)

        peer_cmd = StdioTransport(sys.executable, ["-m", "mcp_server_time", "--local-timezone", "UTC"])
        async with Client(peer_cmd) as c:
            peer_stdio = await timed(c, "get_current_time", {"timezone": "UTC"})
    for p in (path, path + ".lock"):
        Path(p).unlink(missing_ok=True)
    print(
        json.dumps(
            {
                "benchmark": "mcp_roundtrip",
                "calls": N,
                "chronotick_in_process": ours_mem,
                "chronotick_stdio": ours_stdio,
                "mcp_server_time_stdio": peer_stdio,
                "stdio_median_ratio_vs_peer": round(ours_stdio["median_ms"] / peer_stdio["median_ms"], 3),
                "targets": {"stdio_ratio_max": 1.0, "in_process_median_ms_max": 1.0},
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
