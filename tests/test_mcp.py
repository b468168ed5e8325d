"""The MCP tools through real clients: in process, over stdio to a real subprocess, and the SDK."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from conftest import BIN, REPO, fresh, synced_snapshot
from fastmcp import Client

from chronotick_engine.embedded import ClockChoice
from chronotick_engine.protocol import Publisher
from chronotick_mcp.app import build_server

# MCP v2 (issue 15) adds convert_time, compare_times and time_until to the first three; the
# official server's get_current_time came with the embedded engine's round; the calendar tools
# (issue 33) with time an agent can reason with.
ALL_TOOLS = {
    "get_time",
    "get_current_time",
    "convert_time",
    "compare_times",
    "time_until",
    "get_daemon_status",
    "get_time_with_future_uncertainty",
    "shift_time",
    "time_between",
    "add_business_days",
    "date_info",
    "next_occurrences",
}
TIME_FIELDS = {
    "corrected_unix",
    "corrected_unix_ns",
    "iso",
    "uncertainty_ms",
    "earliest",
    "latest",
    "status",
    "source",
    "confidence",
    "offset_ms",
    "drift_ppm",
    "seconds_since_ntp",
    "call_latency_ms",
}


async def test_list_tools_schemas_and_annotations(shm_path):
    async with Client(build_server(shm_path)) as c:
        tools = {t.name: t for t in await c.list_tools()}
    assert set(tools) == ALL_TOOLS
    for t in tools.values():
        assert t.annotations.read_only_hint and t.annotations.idempotent_hint
        assert t.output_schema and "call_latency_ms" in t.output_schema["properties"]
        assert len(t.description) > 80
    fs = tools["get_time_with_future_uncertainty"].input_schema["properties"]["future_seconds"]
    assert fs["minimum"] == 0 and fs["maximum"] == 3600


async def test_every_tool(live_publisher, shm_path):
    async with Client(build_server(shm_path)) as c:
        r = await c.call_tool("get_time", {"timezone": "Asia/Tokyo"})
        assert set(r.structured_content) >= TIME_FIELDS and r.structured_content["iso"].endswith("+09:00")
        assert r.structured_content["status"] == "SYNCHRONIZED"
        r = await c.call_tool("get_time_with_future_uncertainty", {"future_seconds": 600})
        s = r.structured_content
        assert s["future_uncertainty_ms"] > s["current_uncertainty_ms"] and s["uncertainty_increase_ms"] > 0
        r = await c.call_tool("get_daemon_status", {})
        assert r.structured_content["summary"].startswith("SYNCHRONIZED")


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("get_time", {"timezone": "Mars/Olympus_Mons"}, "unknown time zone"),
        ("get_time", {"timezone": 5}, "invalid argument timezone"),
        ("get_time_with_future_uncertainty", {"future_seconds": -1}, "invalid argument future_seconds"),
        ("get_time_with_future_uncertainty", {"future_seconds": 1e9}, "invalid argument future_seconds"),
        ("get_time_with_future_uncertainty", {"future_seconds": "soon"}, "invalid argument future_seconds"),
        ("get_time_with_future_uncertainty", {}, "invalid argument future_seconds"),
        ("get_time_with_future_uncertainty", {"future_seconds": [1]}, "invalid argument"),
    ],
)
async def test_bad_arguments_are_one_line_errors(live_publisher, shm_path, tool, args, message):
    async with Client(build_server(shm_path)) as c:
        r = await c.call_tool(tool, args, raise_on_error=False)
        assert r.is_error and message in r.content[0].text and "\n" not in r.content[0].text
        assert not (await c.call_tool("get_time", {}, raise_on_error=False)).is_error  # still serving


async def test_missing_and_stale_daemon_are_errors_with_engine_daemon(shm_path):
    async with Client(build_server(shm_path, clock=ClockChoice("daemon", shm_path))) as c:
        r = await c.call_tool("get_time", {}, raise_on_error=False)
        assert r.is_error and "chronotick-daemon" in r.content[0].text
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot(last_publish_mono_ns=time.monotonic_ns() - 20 * 10**9))
        async with Client(build_server(shm_path, clock=ClockChoice("daemon", shm_path))) as c:
            r = await c.call_tool("get_time", {}, raise_on_error=False)
            assert r.is_error and "not running" in r.content[0].text


@pytest.mark.integration
async def test_stdio_subprocess_with_mcp_sdk_client(publisher, shm_path):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    fresh(publisher)
    params = StdioServerParameters(
        command=str(BIN / "chronotick-stdio-server"), args=["--shm-path", shm_path], env={**os.environ}
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = {t.name for t in (await session.list_tools()).tools}
        assert "get_time" in names
        fresh(publisher)
        r = await session.call_tool("get_time", {})
        assert not r.is_error and set(r.structured_content) >= TIME_FIELDS
        r = await session.call_tool("get_time_with_future_uncertainty", {"future_seconds": -5})
        assert r.is_error


@pytest.mark.integration
async def test_stdio_env_var_path(live_publisher, shm_path):
    # A live heartbeat throughout: the server's start can outlast the freshness grace on a loaded
    # machine, and then `auto` rightly runs its own engine instead of reading the stale segment.
    from fastmcp.client.transports import StdioTransport

    transport = StdioTransport(
        command=str(BIN / "chronotick-stdio-server"),
        args=[],
        env={**os.environ, "CHRONOTICK_SHM_PATH": shm_path},
    )
    async with Client(transport) as c:
        r = await c.call_tool("get_daemon_status", {})
        assert r.structured_content["measurement_count"] == 12  # it read the segment the variable names


async def test_sdk_tools_in_process(live_publisher, shm_path, monkeypatch):
    pytest.importorskip("claude_agent_sdk")
    from mcp import Client as McpClient

    from chronotick_mcp.sdk import create_chronotick_server

    monkeypatch.setenv("CHRONOTICK_SHM_PATH", shm_path)
    server = create_chronotick_server()
    assert server["type"] == "sdk" and server["name"] == "chronotick"
    async with McpClient(server["instance"]) as s:
        assert {t.name for t in (await s.list_tools()).tools} == ALL_TOOLS
        r = await s.call_tool("get_time", {})
        data = json.loads(r.content[0].text)  # valid JSON, the same fields as the stdio tool
        assert set(data) >= TIME_FIELDS
        for bad in ({"future_seconds": 7200}, {"future_seconds": "soon"}, {"future_seconds": -1}, {}):
            r = await s.call_tool("get_time_with_future_uncertainty", bad)
            assert r.is_error and len(r.content[0].text.splitlines()) == 1, bad
        r = await s.call_tool("get_time", {"timezone": 5})
        assert r.is_error


INSPECTOR = REPO / ".tools" / "node_modules" / ".bin" / "mcp-inspector"


def inspector(shm_path: str, *args: str, exit_code: int = 0) -> dict:
    if not INSPECTOR.exists():
        pytest.skip("MCP Inspector not installed: run `make tools` (npm)")
    r = subprocess.run(
        [str(INSPECTOR), "--cli", str(BIN / "chronotick-stdio-server"), "--shm-path", shm_path, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == exit_code, r.stdout[-1000:] + r.stderr[-2000:]
    return json.JSONDecoder().raw_decode(r.stdout[r.stdout.index("{") :])[0]


def test_mcp_inspector_cli_lists_and_calls_tools(live_publisher, shm_path):
    """The official MCP Inspector (npm), in CLI mode, against the real stdio server."""
    listed = inspector(shm_path, "--method", "tools/list")
    assert {t["name"] for t in listed["tools"]} == ALL_TOOLS

    def call(tool: str, arg: str, exit_code: int = 0) -> dict:
        return inspector(
            shm_path, "--method", "tools/call", "--tool-name", tool, "--tool-arg", arg, exit_code=exit_code
        )

    r = call("get_time", "timezone=Europe/Paris")
    assert r["isError"] is False and r["structuredContent"].keys() >= TIME_FIELDS
    assert r["structuredContent"]["status"] == "SYNCHRONIZED" and "+01:00" in r["structuredContent"]["iso"]
    future = call("get_time_with_future_uncertainty", "future_seconds=60")
    assert future["structuredContent"]["uncertainty_increase_ms"] > 0
    # 5 is the Inspector's exit status for a tool result with isError.
    bad = call("get_time_with_future_uncertainty", "future_seconds=-5", exit_code=5)
    assert bad["isError"] is True
    [text] = [c["text"] for c in bad["content"]]
    assert text == "invalid argument future_seconds: Input should be greater than or equal to 0"
