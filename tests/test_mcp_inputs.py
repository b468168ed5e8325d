"""Input an agent actually sends, over the real stdio server: out-of-range instants and numbers are
one-line errors (never a traceback, never a result that breaks the tool's own schema), Unix
seconds may come as a string, milliseconds are recognised, and the server reports its version."""

from __future__ import annotations

import os
from importlib.metadata import version

import pytest
from conftest import BIN

pytestmark = pytest.mark.integration

ERRORS = [
    (
        "convert_time",
        {"source_timezone": "UTC", "time": "9999-12-31T23:59:59", "target_timezone": "Asia/Tokyo"},
        "years 1-9999",
    ),
    (
        "convert_time",
        {"source_timezone": "UTC", "time": "0001-01-01T00:00:00", "target_timezone": "America/New_York"},
        "years 1-9999",
    ),
    (
        "compare_times",
        {"a": {"earliest": -1e308, "latest": 1e308}, "b": {"earliest": 0, "latest": 1}},
        "invalid argument a",
    ),
    (
        "compare_times",
        {"a": {"corrected_unix": 1, "uncertainty_ms": 1e300}, "b": {"earliest": 0, "latest": 1}},
        "invalid argument a",
    ),
    ("time_until", {"target": 1e12}, "looks like milliseconds"),
    ("time_until", {"target": "1796237100000"}, "looks like milliseconds"),
    ("time_until", {"target": 1e300}, "looks like milliseconds"),
    ("get_time", {"timezone": ""}, "unknown time zone"),
    ("get_time", {"extra": 1}, "invalid argument extra"),
]


async def test_inputs_over_stdio(live_publisher, shm_path, tmp_path):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=str(BIN / "chronotick-stdio-server"), args=["--shm-path", shm_path], env={**os.environ}
    )
    errlog = (tmp_path / "stderr").open("w+")
    async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        assert init.server_info.version == version("chronotick")
        for tool, args, want in ERRORS:
            r = await session.call_tool(tool, args)
            text = r.content[0].text
            assert r.is_error and want in text and "\n" not in text, (tool, args, text)
        now = (await session.call_tool("get_time", {})).structured_content["corrected_unix"]
        for target in ("1796237100", 1796237100, "2026-06-01", f"{now + 3600:.3f}"):
            r = await session.call_tool("time_until", {"target": target})
            assert not r.is_error, (target, r.content)
            assert r.structured_content["target_unix"] > 1.7e9
    errlog.seek(0)
    assert "Traceback" not in errlog.read()
