"""get_time round trips over each transport ChronoTick offers, against the official
mcp-server-time's get_current_time over the same transport, in the same run. Prints one JSON line.

- stdio: ChronoTick, mcp-server-time and a bare FastMCP server (bench/fastmcp_floor_server.py, the
  framework's own floor), each a subprocess driven by fastmcp.Client. Their calls are interleaved
  in alternating order rather than run as blocks, so that all see the same machine: on a shared
  host the speed drifts by tens of percent within a minute, which back-to-back blocks would report
  as a difference between the servers.
- in process: the claude-agent-sdk server (create_chronotick_server) and mcp-server-time's
  MCPServer, both through the mcp SDK's in-memory Client; and the FastMCP server through
  fastmcp.Client(server).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))

from conftest import synced_snapshot  # noqa: E402
from fastmcp import Client  # noqa: E402
from fastmcp.client.transports import StdioTransport  # noqa: E402
from mcp import Client as McpClient  # noqa: E402

from chronotick_engine.protocol import PATH_ENV, Publisher, lock_path  # noqa: E402
from chronotick_mcp.app import build_server  # noqa: E402

N = 1000
WARMUP = 50
GET_TIME = ("get_time", {})
PEER_GET_TIME = ("get_current_time", {"timezone": "UTC"})


def summary(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"median_ms": round(statistics.median(s), 4), "p99_ms": round(s[int(0.99 * len(s)) - 1], 4)}


async def interleaved(clients: dict[str, tuple[object, tuple[str, dict]]]) -> dict[str, dict]:
    """Time N calls on each client, round-robin in alternating order."""
    samples: dict[str, list[float]] = {name: [] for name in clients}
    order = list(clients)
    for i in range(WARMUP + N):
        for name in order if i % 2 else reversed(order):
            client, (tool, args) = clients[name]
            t = time.perf_counter()
            await client.call_tool(tool, args)  # type: ignore[attr-defined]
            if i >= WARMUP:
                samples[name].append((time.perf_counter() - t) * 1e3)
    return {name: summary(s) for name, s in samples.items()}


async def main() -> None:
    path = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
    os.environ[PATH_ENV] = path  # the SDK server reads its path from the environment
    py = sys.executable
    from mcp_server_time.server import create_server as create_peer

    from chronotick_mcp.sdk import create_chronotick_server

    with Publisher(path) as pub:
        m = time.monotonic_ns()
        pub.publish(synced_snapshot(last_publish_mono_ns=m + 600 * 10**9, void_after_mono_ns=m + 900 * 10**9))
        async with AsyncExitStack() as stack:
            enter = stack.enter_async_context
            stdio = await interleaved(
                {
                    "chronotick": (
                        await enter(
                            Client(
                                StdioTransport(
                                    str(Path(py).parent / "chronotick-stdio-server"), ["--shm-path", path]
                                )
                            )
                        ),
                        GET_TIME,
                    ),
                    "mcp_server_time": (
                        await enter(
                            Client(StdioTransport(py, ["-m", "mcp_server_time", "--local-timezone", "UTC"]))
                        ),
                        PEER_GET_TIME,
                    ),
                    "fastmcp_floor": (
                        await enter(Client(StdioTransport(py, [str(BENCH / "fastmcp_floor_server.py")]))),
                        GET_TIME,
                    ),
                }
            )
        async with AsyncExitStack() as stack:
            enter = stack.enter_async_context
            in_process = await interleaved(
                {
                    "chronotick_sdk": (
                        await enter(McpClient(create_chronotick_server()["instance"])),
                        GET_TIME,
                    ),
                    "mcp_server_time": (await enter(McpClient(create_peer("UTC"))), PEER_GET_TIME),
                }
            )
        async with Client(build_server(path)) as c:
            in_process |= await interleaved({"chronotick_fastmcp": (c, GET_TIME)})
    for p in (path, lock_path(path)):
        Path(p).unlink(missing_ok=True)

    def ratio(table: dict, a: str, b: str) -> float:
        return round(table[a]["median_ms"] / table[b]["median_ms"], 3)

    print(
        json.dumps(
            {
                "benchmark": "mcp_roundtrip",
                "calls": N,
                "stdio": stdio,
                "in_process": in_process,
                "stdio_median_ratio_vs_peer": ratio(stdio, "chronotick", "mcp_server_time"),
                "fastmcp_floor_ratio_vs_peer": ratio(stdio, "fastmcp_floor", "mcp_server_time"),
                "sdk_in_process_ratio_vs_peer": ratio(in_process, "chronotick_sdk", "mcp_server_time"),
                "targets": {"stdio_ratio_max": 1.0, "in_process_median_ms_max": 1.0},
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
