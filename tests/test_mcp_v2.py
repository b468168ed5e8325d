"""MCP v2: zone conversion as the official server does it, TrueTime-style ordering and deadlines,
Streamable HTTP with bearer-token auth, and every transport's schemas from the tools' models."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import BIN, REPO
from fastmcp import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from chronotick_mcp import tools
from chronotick_mcp.app import build_server
from chronotick_mcp.zones import local_instants

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Adelaide",  # +9:30 / +10:30
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Asia/Kathmandu",  # +5:45
    "Asia/Kolkata",  # +5:30
    "America/St_Johns",  # -3:30 / -2:30
    "Pacific/Chatham",  # +12:45 / +13:45
]


async def test_get_time_v2_fields_and_the_local_zone(live_publisher, shm_path):
    async with Client(build_server(shm_path, local_timezone="Asia/Kathmandu")) as c:
        r = (await c.call_tool("get_time", {})).structured_content
        assert (
            r["timezone"] == "Asia/Kathmandu" and r["utc_offset"] == "+05:45" and r["iso"].endswith("+05:45")
        )
        assert r["unix_ms"] == r["corrected_unix_ns"] // 1_000_000 and r["is_dst"] is False
        assert r["day_of_week"] == datetime.fromtimestamp(
            r["corrected_unix"], ZoneInfo("Asia/Kathmandu")
        ).strftime("%A")
        ny = (await c.call_tool("get_time", {"timezone": "America/New_York"})).structured_content
        assert ny["timezone"] == "America/New_York" and ny["utc_offset"] in ("-05:00", "-04:00")


def test_local_zone_order(monkeypatch):
    from chronotick_mcp.zones import local_zone_name

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert local_zone_name("Europe/Paris") == "Europe/Paris"
    assert local_zone_name() == "Asia/Tokyo"
    monkeypatch.setenv("TZ", "Not/AZone")
    assert local_zone_name() in {"UTC"} | {os.path.realpath("/etc/localtime").partition("/zoneinfo/")[2]}


async def test_convert_time_hh_mm_today_on_the_corrected_clock(live_publisher, shm_path):
    async with Client(build_server(shm_path)) as c:
        r = (
            await c.call_tool(
                "convert_time",
                {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Kathmandu"},
            )
        ).structured_content
    assert r["time_difference"] == "+5.75h" and r["target"]["datetime"].endswith("T17:45:00+05:45")
    assert r["today_from"] == "corrected clock" and r["ambiguous"] is False and r["alternatives"] == []
    today = datetime.now(UTC).date().isoformat()  # the test snapshot's correction is 12.5 ms
    assert r["source"]["datetime"].startswith(today) and r["source"]["day_of_week"] == datetime.now(
        UTC
    ).strftime("%A")


async def test_convert_time_flags_a_fold_and_refuses_a_gap(shm_path):
    async with Client(build_server(shm_path)) as c:
        fold = await c.call_tool(
            "convert_time",
            {"source_timezone": "America/New_York", "time": "2026-11-01T01:30", "target_timezone": "UTC"},
        )
        gap = await c.call_tool(
            "convert_time",
            {"source_timezone": "America/New_York", "time": "2026-03-08T02:30", "target_timezone": "UTC"},
            raise_on_error=False,
        )
    r = fold.structured_content
    assert r["ambiguous"] and r["target"]["datetime"] == "2026-11-01T05:30:00+00:00"
    assert [a["target"]["datetime"] for a in r["alternatives"]] == ["2026-11-01T06:30:00+00:00"]
    assert r["source"]["is_dst"] and not r["alternatives"][0]["source"]["is_dst"]
    assert gap.is_error and "does not exist in America/New_York" in gap.content[0].text


async def test_compare_times_orders_get_time_results_from_two_nodes(live_publisher, shm_path):
    async with Client(build_server(shm_path)) as c:
        a = (await c.call_tool("get_time", {})).structured_content
        same = (await c.call_tool("compare_times", {"a": a, "b": a})).structured_content
        later = {"corrected_unix": a["corrected_unix"] + 5, "uncertainty_ms": 1.0}
        far = (await c.call_tool("compare_times", {"a": a, "b": later})).structured_content
        back = (await c.call_tool("compare_times", {"a": later, "b": a})).structured_content
    assert same["order"] == "overlapping" and same["gap_ms"] == pytest.approx(
        -2 * a["uncertainty_ms"], abs=1e-3
    )
    assert far["order"] == "before" and back["order"] == "after"
    assert far["gap_ms"] == pytest.approx((later["corrected_unix"] - 1e-3 - a["latest"]) * 1e3, abs=1e-3)


async def test_time_until_says_yes_no_or_uncertain(live_publisher, shm_path):
    async with Client(build_server(shm_path)) as c:
        now = (await c.call_tool("get_time", {})).structured_content["corrected_unix"]
        ahead = (await c.call_tool("time_until", {"target": now + 60})).structured_content
        past = (await c.call_tool("time_until", {"target": now - 60})).structured_content
        iso = datetime.fromtimestamp(now + 3600, UTC).isoformat()
        hour = (await c.call_tool("time_until", {"target": iso})).structured_content
        here = (await c.call_tool("time_until", {"target": time.time()})).structured_content
    assert ahead["passed"] == "no" and 59 < ahead["seconds"] < 60.1
    assert ahead["min_seconds"] < ahead["seconds"] < ahead["max_seconds"]
    assert past["passed"] == "yes" and past["max_seconds"] < 0
    assert hour["passed"] == "no" and hour["seconds"] == pytest.approx(3600, abs=1)
    assert here["passed"] == "yes"  # the system clock is 12.5 ms behind the corrected one, bar ±0.5 ms


BAD = [
    ("get_time", {"timezone": "Mars/Olympus_Mons"}, "unknown time zone"),
    # 'europe/paris' is forgiven since the MCP v3 issue; a misspelling still is not, with a suggestion
    ("get_time", {"timezone": "Europe/Pariss"}, "did you mean 'Europe/Paris'"),
    ("convert_time", {"source_timezone": "UTC", "time": "25:00", "target_timezone": "UTC"}, "invalid time"),
    ("convert_time", {"source_timezone": "UTC", "time": "noon", "target_timezone": "UTC"}, "invalid time"),
    (
        "convert_time",
        {"source_timezone": "UTC", "time": "2026-13-01", "target_timezone": "UTC"},
        "invalid time",
    ),
    (
        "convert_time",
        {"source_timezone": "Nowhere", "time": "12:00", "target_timezone": "UTC"},
        "unknown time zone",
    ),
    (
        "convert_time",
        {"source_timezone": "UTC", "time": 1200, "target_timezone": "UTC"},
        "invalid argument time",
    ),
    ("convert_time", {"source_timezone": "UTC", "time": "12:00"}, "invalid argument target_timezone"),
    (
        "compare_times",
        {"a": {"earliest": 2, "latest": 1}, "b": {"earliest": 0, "latest": 1}},
        "latest is before",
    ),
    ("compare_times", {"a": {"earliest": 1}, "b": {"earliest": 0, "latest": 1}}, "give both"),
    ("compare_times", {"a": {}, "b": {"earliest": 0, "latest": 1}}, "give earliest and latest"),
    ("compare_times", {"a": {"corrected_unix": "NaN", "uncertainty_ms": 1}, "b": {}}, "invalid argument a"),
    (
        "compare_times",
        {"a": {"corrected_unix": 1, "uncertainty_ms": -1}, "b": {"earliest": 0, "latest": 1}},
        "invalid argument a",
    ),
    ("compare_times", {"a": "yesterday", "b": {"earliest": 0, "latest": 1}}, "invalid argument a"),
    ("time_until", {"target": "soonish"}, "invalid target"),
    ("time_until", {"target": True}, "invalid argument target"),
    ("time_until", {"target": "NaN"}, "invalid target"),
    ("time_until", {}, "invalid argument target"),
    ("get_time_with_future_uncertainty", {"future_seconds": float("inf")}, "invalid argument future_seconds"),
    ("get_daemon_status", {"verbose": True}, "invalid argument verbose"),
]


@pytest.mark.parametrize(
    ("tool", "args", "message"), BAD, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(BAD)]
)
async def test_bad_arguments_are_one_line_errors_and_the_server_goes_on(
    live_publisher, shm_path, tool, args, message
):
    async with Client(build_server(shm_path)) as c:
        r = await c.call_tool(tool, args, raise_on_error=False)
        assert r.is_error, r
        text = r.content[0].text
        assert message in text and "\n" not in text, text
        assert not (await c.call_tool("get_time", {}, raise_on_error=False)).is_error


def test_no_bound_is_written_twice():
    """The 3600 s horizon comes from the client; every schema comes from the tools' models."""
    assert tools.FutureInput.model_json_schema()["properties"]["future_seconds"]["maximum"] == 3600
    for path in ("chronotick_mcp/app.py", "chronotick_mcp/sdk.py", "chronotick_mcp/tools.py"):
        assert "3600" not in (REPO / path).read_text(), path


async def test_sdk_server_serves_every_tool_from_the_models(live_publisher, shm_path, monkeypatch):
    pytest.importorskip("claude_agent_sdk")
    from mcp import Client as McpClient

    from chronotick_mcp.sdk import create_chronotick_server

    monkeypatch.setenv("CHRONOTICK_SHM_PATH", shm_path)
    async with McpClient(create_chronotick_server()["instance"]) as s:
        listed = {t.name: t for t in (await s.list_tools()).tools}
        assert set(listed) == {t.name for t in tools.TOOLS}
        for spec in tools.TOOLS:
            assert listed[spec.name].input_schema["properties"] == spec.input.model_json_schema().get(
                "properties", {}
            )
        r = await s.call_tool(
            "convert_time", {"source_timezone": "UTC", "time": "00:00", "target_timezone": "Asia/Kolkata"}
        )
        assert json.loads(r.content[0].text)["time_difference"] == "+5.5h"
        r = await s.call_tool("compare_times", {"a": {"earliest": 2, "latest": 1}, "b": {}})
        assert r.is_error and len(r.content[0].text.splitlines()) == 1


# ------------------------------------------------------------------------------------- properties

local_times = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2037, 12, 31))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(ZONES), local_times)
def test_convert_time_matches_zoneinfo(src, dst, local):
    local = local.replace(second=0, microsecond=0)
    ctx = tools.ToolContext(clock=None, local_zone="UTC")  # type: ignore[arg-type]  (an ISO time needs no clock)
    args = tools.ConvertInput(source_timezone=src, time=local.isoformat(), target_timezone=dst)
    instants = local_instants(local, ZoneInfo(src))
    if not instants:
        with pytest.raises(tools.ToolFailure, match="does not exist"):
            tools.convert_time(ctx, args)
        return
    r = tools.convert_time(ctx, args)
    got = [r, *r.alternatives]
    assert r.ambiguous == (len(instants) == 2) and len(got) == len(instants)
    for conv, instant in zip(got, instants, strict=True):
        assert datetime.fromisoformat(conv.source.datetime).replace(tzinfo=None) == local
        target = instant.astimezone(ZoneInfo(dst))
        assert datetime.fromisoformat(conv.target.datetime) == target
        assert conv.target.is_dst == bool(target.dst()) and conv.source.is_dst == bool(instant.dst())
        hours = (
            (target.utcoffset() or timedelta()) - (instant.utcoffset() or timedelta())
        ).total_seconds() / 3600
        assert float(conv.time_difference.rstrip("h")) == pytest.approx(hours)


intervals = st.tuples(
    st.floats(min_value=0, max_value=2e9, allow_nan=False),
    st.floats(min_value=0, max_value=10, allow_nan=False),
)


@settings(max_examples=500, deadline=None)
@given(intervals, intervals, st.booleans())
def test_compare_times_is_interval_arithmetic(a, b, as_uncertainty):
    def spec(x):
        lo, width = x
        if as_uncertainty:
            return {"corrected_unix": lo + width / 2, "uncertainty_ms": width / 2 * 1e3}
        return {"earliest": lo, "latest": lo + width}

    r = tools.compare_times(None, tools.CompareInput.model_validate({"a": spec(a), "b": spec(b)}))  # type: ignore[arg-type]
    (a0, a1), (b0, b1) = r.a, r.b
    assert r.order == ("before" if a1 < b0 else "after" if a0 > b1 else "overlapping")
    assert (r.gap_ms > 0) == (r.order != "overlapping") or (r.gap_ms == 0 and r.order == "overlapping")
    swapped = tools.compare_times(None, tools.CompareInput.model_validate({"a": spec(b), "b": spec(a)}))  # type: ignore[arg-type]
    assert swapped.order == {"before": "after", "after": "before", "overlapping": "overlapping"}[r.order]
    assert math.isclose(swapped.gap_ms, r.gap_ms, rel_tol=1e-12, abs_tol=1e-9)


# ---------------------------------------------------------------------------------------- HTTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server(live_publisher, shm_path, tmp_path):
    token = "tok-" + os.urandom(8).hex()
    (tmp_path / "token").write_text(token + "\n")
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "chronotick-http-server"), "--port", str(port), "--shm-path", shm_path]
        + ["--token-file", str(tmp_path / "token"), "--local-timezone", "Asia/Kolkata"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"chronotick-http-server did not listen: {proc.stderr.read()}")
    yield f"http://127.0.0.1:{port}/mcp", token
    proc.terminate()
    proc.wait(10)


def post_status(url: str, headers: dict) -> int:
    import urllib.error
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}).encode()
    hdrs = {"content-type": "application/json", "accept": "application/json, text/event-stream", **headers}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=hdrs), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.integration
async def test_http_server_with_the_mcp_sdk_client_and_auth(http_server):
    from mcp import ClientSession
    from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

    url, token = http_server
    assert post_status(url, {}) == 401
    assert post_status(url, {"Authorization": "Bearer wrong"}) == 401
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with (
        streamable_http_client(url, http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as s,
    ):
        await s.initialize()
        assert {t.name for t in (await s.list_tools()).tools} == {t.name for t in tools.TOOLS}
        r = await s.call_tool("get_time", {})
        assert not r.is_error and r.structured_content["timezone"] == "Asia/Kolkata"
        assert r.structured_content["status"] == "SYNCHRONIZED"
        r = await s.call_tool("time_until", {"target": "not a time"})
        assert r.is_error and "invalid target" in r.content[0].text


INSPECTOR = REPO / ".tools" / "node_modules" / ".bin" / "mcp-inspector"


@pytest.mark.integration
def test_mcp_inspector_over_http(http_server):
    if not INSPECTOR.exists():
        pytest.skip("MCP Inspector not installed: run `make tools` (npm)")
    url, token = http_server
    base = [str(INSPECTOR), "--cli", url, "--transport", "http", "--header", f"Authorization: Bearer {token}"]
    listed = subprocess.run([*base, "--method", "tools/list"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr[-1000:]
    assert {t["name"] for t in json.loads(listed.stdout)["tools"]} == {t.name for t in tools.TOOLS}
    called = subprocess.run(
        [*base, "--method", "tools/call", "--tool-name", "compare_times"]
        + ["--tool-arg", 'a={"earliest": 1, "latest": 2}', "--tool-arg", 'b={"earliest": 3, "latest": 4}'],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert called.returncode == 0, called.stderr[-1000:]
    assert json.loads(called.stdout)["structuredContent"]["order"] == "before"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--host", "0.0.0.0"], {}, "refusing to serve 0.0.0.0 without a token"),
        (["--token-file", "/nonexistent/token"], {}, "--token-file /nonexistent/token"),
        (["--local-timezone", "Mars/Base"], {}, "unknown time zone"),
        (["--port", "0"], {}, "--port must be 1-65535"),
    ],
)
def test_http_server_refuses_bad_command_lines_in_one_line(args, env, message):
    out = subprocess.run(
        [str(BIN / "chronotick-http-server"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env, "CHRONOTICK_MCP_TOKEN": ""},
    )
    assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1, out.stderr


def test_stdio_server_takes_a_local_timezone(live_publisher, shm_path):
    from fastmcp.client.transports import StdioTransport

    async def go():
        transport = StdioTransport(
            command=str(BIN / "chronotick-stdio-server"),
            args=["--shm-path", shm_path, "--local-timezone", "Asia/Tokyo"],
        )
        async with Client(transport) as c:
            return (await c.call_tool("get_time", {})).structured_content

    import asyncio

    r = asyncio.run(go())
    assert r["timezone"] == "Asia/Tokyo" and r["utc_offset"] == "+09:00"


@pytest.mark.integration
async def test_stdio_server_advertises_the_models_schemas(publisher, shm_path):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=str(BIN / "chronotick-stdio-server"), args=["--shm-path", shm_path]
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = {t.name: t for t in (await session.list_tools()).tools}
        for spec in tools.TOOLS:
            t = listed[spec.name]
            assert t.input_schema["properties"] == spec.input.model_json_schema().get("properties", {})
            assert (
                t.output_schema["properties"].keys() == spec.result.model_json_schema()["properties"].keys()
            )
            assert (
                t.annotations.read_only_hint
                and t.annotations.idempotent_hint
                and t.description == spec.description
            )
        r = await session.call_tool("compare_times", {"a": {"earliest": 2, "latest": 1}, "b": {}})
        assert (
            r.is_error and r.content[0].text == "invalid argument a: Value error, latest is before earliest"
        )
