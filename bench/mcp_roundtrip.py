"""Round trips of every ChronoTick tool over each transport it offers, against the official
mcp-server-time's tools over the same transport and a bare FastMCP server, in the same run. Prints
one JSON line.

- stdio: every ChronoTick tool, mcp-server-time's two and a bare FastMCP server
  (bench/fastmcp_floor_server.py, the framework's own floor), each server a subprocess driven by
  fastmcp.Client.
- HTTP: every ChronoTick tool on a real chronotick-http-server (bearer token on) against the bare
  FastMCP server over the same transport (mcp-server-time has no HTTP transport). Their calls are interleaved
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
import subprocess
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

N = int(os.environ.get("CHRONOTICK_BENCH_CALLS", 1000))
WARMUP = 50
GET_TIME = ("get_time", {})
PEER_GET_TIME = ("get_current_time", {"timezone": "UTC"})
PEER_CONVERT = (
    "convert_time",
    {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Kathmandu"},
)
OUR_CALLS = {
    "get_time": GET_TIME,
    "get_current_time": PEER_GET_TIME,
    "convert_time": PEER_CONVERT,
    "compare_times": (
        "compare_times",
        {"a": {"earliest": 1.0, "latest": 2.0}, "b": {"corrected_unix": 3.0, "uncertainty_ms": 5.0}},
    ),
    "time_until": ("time_until", {"target": 4102444800}),
    "get_daemon_status": ("get_daemon_status", {}),
    "get_time_with_future_uncertainty": ("get_time_with_future_uncertainty", {"future_seconds": 60}),
    "shift_time": ("shift_time", {"duration": "P90D", "timezone": "Asia/Tokyo"}),
    "shift_time_relative": (
        "shift_time",
        {"base": "tomorrow 9am", "hours": 2, "timezone": "America/New_York"},
    ),
    "time_between": (
        "time_between",
        {
            "end": "2027-01-15",
            "timezone": "Europe/Berlin",
            "business_days": {"country": "DE", "subdivision": "BY"},
        },
    ),
    "add_business_days": ("add_business_days", {"days": 10, "country": "US", "subdivision": "CA"}),
    "date_info": ("date_info", {"timezone": "Europe/Dublin"}),
    "next_occurrences": (
        "next_occurrences",
        {"rrule": "FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0", "timezone": "America/New_York", "count": 5},
    ),
}
CALENDAR = [
    n
    for n in OUR_CALLS
    if n.split("_relative")[0]
    in {"shift_time", "time_between", "add_business_days", "date_info", "next_occurrences"}
]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def listening(port: int) -> None:
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


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
            ours = await enter(
                Client(StdioTransport(str(Path(py).parent / "chronotick-stdio-server"), ["--shm-path", path]))
            )
            peer = await enter(
                Client(StdioTransport(py, ["-m", "mcp_server_time", "--local-timezone", "UTC"]))
            )
            floor = await enter(Client(StdioTransport(py, [str(BENCH / "fastmcp_floor_server.py")])))
            stdio = await interleaved(
                {f"chronotick:{name}": (ours, call) for name, call in OUR_CALLS.items()}
                | {
                    "mcp_server_time:get_current_time": (peer, PEER_GET_TIME),
                    "mcp_server_time:convert_time": (peer, PEER_CONVERT),
                    "fastmcp_floor": (floor, GET_TIME),
                }
            )
        token = uuid.uuid4().hex
        token_file = Path(f"/tmp/chronotick_bench_token_{token[:8]}")
        token_file.write_text(token)
        ours_port, floor_port = free_port(), free_port()
        procs = [
            subprocess.Popen(
                [str(Path(py).parent / "chronotick-http-server"), "--port", str(ours_port)]
                + ["--shm-path", path, "--token-file", str(token_file)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [py, str(BENCH / "fastmcp_floor_server.py"), "--http", str(floor_port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
        ]
        try:
            await listening(ours_port)
            await listening(floor_port)
            async with AsyncExitStack() as stack:
                enter = stack.enter_async_context
                ours = await enter(Client(f"http://127.0.0.1:{ours_port}/mcp", auth=token))
                floor = await enter(Client(f"http://127.0.0.1:{floor_port}/mcp"))
                http = await interleaved(
                    {f"chronotick:{name}": (ours, call) for name, call in OUR_CALLS.items()}
                    | {"fastmcp_floor": (floor, GET_TIME)}
                )
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
            token_file.unlink(missing_ok=True)
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
                "http": http,
                "in_process": in_process,
                "stdio_get_time_ratio_vs_peer": ratio(
                    stdio, "chronotick:get_time", "mcp_server_time:get_current_time"
                ),
                "stdio_get_current_time_ratio_vs_peer": ratio(
                    stdio, "chronotick:get_current_time", "mcp_server_time:get_current_time"
                ),
                "stdio_convert_time_ratio_vs_peer": ratio(
                    stdio, "chronotick:convert_time", "mcp_server_time:convert_time"
                ),
                "fastmcp_floor_ratio_vs_peer": ratio(
                    stdio, "fastmcp_floor", "mcp_server_time:get_current_time"
                ),
                # Issue 33's figure: each calendar tool's stdio round trip against get_current_time's,
                # the same server, interleaved (target <= 1.10).
                "stdio_calendar_ratio_vs_get_current_time": {
                    n: ratio(stdio, f"chronotick:{n}", "chronotick:get_current_time") for n in CALENDAR
                },
                "stdio_ratio_vs_floor": {
                    n: ratio(stdio, f"chronotick:{n}", "fastmcp_floor") for n in OUR_CALLS
                },
                "http_ratio_vs_floor": {
                    n: ratio(http, f"chronotick:{n}", "fastmcp_floor") for n in OUR_CALLS
                },
                "sdk_in_process_ratio_vs_peer": ratio(in_process, "chronotick_sdk", "mcp_server_time"),
                "targets": {
                    "ratio_vs_floor_max": 1.05,
                    "in_process_median_ms_max": 0.5,
                    "calendar_ratio_vs_get_current_time_max": 1.10,
                },
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
