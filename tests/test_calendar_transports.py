"""The calendar tools over every transport with the mcp SDK's clients: stdio and the SDK instance
with no daemon (the embedded engine over NTS on loopback), HTTP over a live segment; and honesty
at midnight on a real segment whose error bar is widened on purpose."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time

import pytest
from conftest import BIN, synced_snapshot
from test_embedded import nts_config, stdio_params  # noqa: F401  (fixtures)
from test_mcp_v2 import http_server  # noqa: F401  (fixture)

from chronotick_engine.protocol import Publisher
from chronotick_mcp import tools

pytestmark = pytest.mark.integration

CALLS = [
    ("shift_time", {"duration": "P90D", "timezone": "Asia/Tokyo"}),
    ("shift_time", {"base": "tomorrow 9am", "hours": 2, "timezone": "America/New_York"}),
    (
        "time_between",
        {
            "end": "2027-01-15",
            "timezone": "Europe/Berlin",
            "business_days": {"country": "DE", "subdivision": "BY"},
        },
    ),
    ("add_business_days", {"days": 10, "country": "US", "subdivision": "NY"}),
    ("date_info", {"timezone": "Europe/Dublin"}),
    (
        "next_occurrences",
        {"rrule": "FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0", "timezone": "America/New_York", "count": 3},
    ),
]


def check(name: str, body: dict) -> dict:
    """The result validates against the tool's own result model, and now-based ones carry the bar."""
    tools.BY_NAME[name].result.model_validate(body)
    assert body["based_on_now"] is True, (name, body)
    return body


async def calls_over(session) -> list[dict]:
    out = []
    for name, args in CALLS:
        r = await session.call_tool(name, args)
        assert not r.is_error, (name, r.content)
        out.append(check(name, r.structured_content))
    r = await session.call_tool("shift_time", {"base": "asdf", "days": 1})
    assert r.is_error and "cannot read" in r.content[0].text and "\n" not in r.content[0].text
    r = await session.call_tool("time_between", {"end": 10**400})
    assert r.is_error and "\n" not in r.content[0].text
    return out


async def test_calendar_tools_over_stdio_with_the_embedded_engine(shm_path, nts_config, tmp_path):  # noqa: F811
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    errlog = (tmp_path / "stderr").open("w+")
    async with (
        stdio_client(stdio_params(shm_path, "--config", str(nts_config)), errlog=errlog) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = {t.name: t for t in (await session.list_tools()).tools}
        for spec in tools.CALENDAR_TOOLS:
            assert listed[spec.name].annotations.read_only_hint is True
            assert listed[spec.name].output_schema is not None
        results = await calls_over(session)
    assert all(r["engine"] == "embedded" and r["status"] == "SYNCHRONIZED" for r in results), results
    assert all(r["date_certain"] is True for r in results)
    errlog.seek(0)
    assert "Traceback" not in errlog.read()


async def test_calendar_tools_over_http(http_server):  # noqa: F811
    from mcp import ClientSession
    from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

    url, token = http_server
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with (
        streamable_http_client(url, http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as s,
    ):
        await s.initialize()
        results = await calls_over(s)
    assert all(r["engine"] == "daemon" and r["status"] == "SYNCHRONIZED" for r in results)


async def test_calendar_tools_through_the_sdk_instance_with_no_daemon(shm_path, nts_config):  # noqa: F811
    pytest.importorskip("claude_agent_sdk")
    from mcp import Client as McpClient

    from chronotick_engine.embedded import ClockChoice
    from chronotick_mcp import sdk

    clock = ClockChoice("auto", shm_path, str(nts_config))
    server = sdk.create_chronotick_server(clock=clock)
    try:
        async with McpClient(server["instance"]) as session:
            for name, args in CALLS:
                r = await session.call_tool(name, args)
                assert not r.is_error, (name, r.content)
                body = check(name, json.loads(r.content[0].text))
                assert body["engine"] == "embedded" and body["status"] == "SYNCHRONIZED", body
    finally:
        clock.close()


def publish_near(path: str, target_utc: dt.datetime, unc_s: float, stop: threading.Event) -> threading.Thread:
    """Keep a live segment whose corrected clock reads `target_utc` now, with a wide bar."""
    pub = Publisher(path)
    offset = target_utc.timestamp() - time.time()

    def beat() -> None:
        with pub:
            while not stop.is_set():
                m = time.monotonic_ns()
                pub.publish(
                    synced_snapshot(
                        offset_s=offset,
                        offset_unc_s=unc_s,
                        drift=0.0,
                        last_publish_mono_ns=m,
                        void_after_mono_ns=m + 30 * 10**9,
                        anchor_mono_ns=m,
                        anchor_real_ns=time.time_ns(),
                    )
                )
                stop.wait(0.01)

    t = threading.Thread(target=beat, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("seconds_to_midnight, certain", [(1.0, False), (12 * 3600.0, True)])
async def test_today_on_a_real_segment_at_midnight(shm_path, seconds_to_midnight, certain):
    """Read 'today' when the corrected clock is a second before UTC midnight with a bar of seconds:
    date_certain is false with both dates; half a day away it is true."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    midnight = dt.datetime.combine(dt.date(2027, 6, 1), dt.time(), dt.UTC)
    stop = threading.Event()
    t = publish_near(shm_path, midnight - dt.timedelta(seconds=seconds_to_midnight), 3.0, stop)
    try:
        time.sleep(0.1)
        params = StdioServerParameters(
            command=str(BIN / "chronotick-stdio-server"),
            args=["--shm-path", shm_path, "--engine", "daemon"],
            env={**os.environ},
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            r = (await session.call_tool("date_info", {"timezone": "UTC"})).structured_content
            s = (
                await session.call_tool("shift_time", {"duration": "P1D", "timezone": "UTC"})
            ).structured_content
    finally:
        stop.set()
        t.join()
    assert r["engine"] == "daemon" and r["uncertainty_ms"] > 2000, r
    assert r["date_certain"] is certain and s["date_certain"] is certain, (r, s)
    if certain:
        assert r["candidate_dates"] == ["2027-05-31"]
    else:
        assert r["candidate_dates"] == ["2027-05-31", "2027-06-01"] and "midnight" in r["note"]
        assert s["candidate_dates"] == ["2027-06-01", "2027-06-02"]
