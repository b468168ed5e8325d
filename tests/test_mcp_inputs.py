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
    ("time_until", {"target": 10**400}, "looks like milliseconds"),
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


FORGIVEN_ZONES = [
    ("europe/paris", "Europe/Paris"),
    ("utc", "UTC"),
    ("Z", "UTC"),
    ("local", "Asia/Kolkata"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("W. Europe Standard Time", "Europe/Berlin"),
]


async def test_zone_names_agents_send_are_understood_never_guessed(live_publisher, shm_path):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=str(BIN / "chronotick-stdio-server"),
        args=["--shm-path", shm_path, "--local-timezone", "Asia/Kolkata"],
        env={**os.environ},
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for given, iana in FORGIVEN_ZONES:
            for tool in ("get_time", "get_current_time"):
                r = await session.call_tool(tool, {"timezone": given})
                assert not r.is_error and r.structured_content["timezone"] == iana, (given, r.content)
        r = await session.call_tool("get_time", {"timezone": "Amerca/New_Yrok"})
        assert r.is_error and "did you mean 'America/New_York'" in r.content[0].text, r.content
        for hm, clock in (
            ("9:05", "T09:05:00"),
            ("12:00:30", "T12:00:30"),
            ("2026-06-01", "2026-06-01T00:00:00"),
        ):
            args = {"source_timezone": "utc", "time": hm, "target_timezone": "Pacific Standard Time"}
            r = await session.call_tool("convert_time", args)
            assert not r.is_error, (hm, r.content)
            out = r.structured_content
            assert clock in out["source"]["datetime"] and out["target"]["timezone"] == "America/Los_Angeles"
