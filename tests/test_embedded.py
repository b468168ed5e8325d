"""Zero setup: the MCP servers and the Python client with no daemon, running the daemon's engine in
their own process, against a real chronyd serving NTS on loopback under the test's own CA.

Real stdio and HTTP servers as subprocesses, driven by the mcp SDK's clients and the MCP Inspector;
the real daemon appearing and dying beside them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import BIN, REPO
from daemonproc import nts_entry, write_config

from chronotick_engine import ChronoTickClient, Status
from chronotick_engine.embedded import ClockChoice, EmbeddedClient, open_client

pytestmark = pytest.mark.integration

INSPECTOR = REPO / ".tools" / "node_modules" / ".bin" / "mcp-inspector"


@pytest.fixture
def nts_config(tmp_path, pki, nts_chrony) -> Path:
    return write_config(tmp_path, [nts_entry(nts_chrony.nts_port, pki[0])])


@pytest.fixture
def dead_config(tmp_path) -> Path:
    """Servers that cannot be reached: an NTS key exchange refused, a plain port with no server."""
    from chronotick_engine.testing.localntp import free_tcp_port, free_udp_port

    (tmp_path / "dead").mkdir()
    nts = {"host": "127.0.0.1", "nts": True, "nts_ke_port": free_tcp_port()}
    return write_config(tmp_path / "dead", [nts, f"127.0.0.1:{free_udp_port()}"])


def stdio_params(shm_path: str, *args: str):
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=str(BIN / "chronotick-stdio-server"),
        args=["--shm-path", shm_path, "--local-timezone", "UTC", *args],
        env={**os.environ},
    )


async def call(session, tool: str, args: dict | None = None) -> dict:
    r = await session.call_tool(tool, args or {})
    assert not r.is_error, r.content
    return r.structured_content


# ------------------------------------------------------------------------------------------- stdio


async def test_stdio_without_a_daemon_is_synchronized_over_nts_within_6_s(shm_path, nts_config, tmp_path):
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    errlog = (tmp_path / "stderr").open("w+")
    spawned = time.monotonic()
    async with (
        stdio_client(stdio_params(shm_path, "--config", str(nts_config)), errlog=errlog) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        r = await call(session, "get_time")
        took = time.monotonic() - spawned
        assert r["status"] == "SYNCHRONIZED" and r["engine"] == "embedded", r
        assert took < 6.0, f"first get_time after {took:.2f} s"
        assert r["earliest"] <= r["corrected_unix"] <= r["latest"] and r["note"] is None
        assert abs(r["corrected_unix"] - time.time()) < 0.5  # loopback: every process shares one clock
        s = await call(session, "get_daemon_status")
        assert s["engine"] == "embedded" and s["segment_path"] is None and s["seconds_to_sync"] > 0
        assert all(srv["authenticated"] and srv["nts"] for srv in s["servers"]), s["servers"]
        assert "embedded engine" in s["summary"] and "NTS: 1 of 1 servers authenticated" in s["summary"]
        assert (await call(session, "time_until", {"target": time.time() - 60}))["passed"] == "yes"
    errlog.seek(0)
    assert errlog.read() == "", "the stdio server wrote to stderr"


async def test_unreachable_servers_give_an_unverified_answer_not_an_error(shm_path, dead_config):
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    params = stdio_params(shm_path, "--config", str(dead_config), "--sync-wait", "2")
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        asked = time.monotonic()
        r = await call(session, "get_time")
        assert time.monotonic() - asked < 2 + 1
        assert r["status"] == "UNVERIFIED" and r["source"] == "system_clock" and r["engine"] == "embedded"
        assert r["earliest"] is None and r["latest"] is None and r["uncertainty_ms"] is None
        note = r["note"]
        assert "\n" not in note and note.endswith("this is the system clock, unverified"), note
        assert "nts_ke_failed" in note and "Connection refused" in note and note.count("127.0.0.1") >= 2, note
        assert abs(r["corrected_unix"] - time.time()) < 1
        until = await call(session, "time_until", {"target": time.time() - 3600})
        assert until["passed"] == "uncertain" and until["status"] == "UNVERIFIED" and until["note"]
        order = await call(session, "compare_times", {"a": r, "b": {"earliest": 0, "latest": 1}})
        assert order["order"] == "uncertain" and "no error bar" in order["explanation"]
        conv = await call(
            session,
            "convert_time",
            {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"},
        )
        assert conv["target"]["datetime"].endswith("T21:00:00+09:00") and "unverified" in conv["today_from"]
        status = await call(session, "get_daemon_status")
        assert status["engine"] == "embedded" and "nts_ke_failed" in status["summary"], status["summary"]
        asked = time.monotonic()
        await call(session, "get_time")
        assert time.monotonic() - asked < 0.5  # the wait is spent once, at the engine's start


async def test_a_daemon_that_appears_is_preferred_and_a_dead_one_is_never_served(
    shm_path, nts_config, daemon_factory, pki, nts_chrony
):
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    async with (
        stdio_client(stdio_params(shm_path, "--config", str(nts_config))) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        assert (await call(session, "get_time"))["engine"] == "embedded"
        daemon = daemon_factory([nts_entry(nts_chrony.nts_port, pki[0])])
        with ChronoTickClient(shm_path) as c:
            for _ in range(200):
                if os.path.exists(shm_path) and c.is_daemon_ready():
                    break
                await asyncio.sleep(0.05)
            assert c.is_daemon_ready()
        r = await call(session, "get_time")
        assert r["engine"] == "daemon" and r["status"] == "SYNCHRONIZED", r
        s = await call(session, "get_daemon_status")
        assert s["engine"] == "daemon" and s["segment_path"] == shm_path
        daemon.stop(signal.SIGKILL)
        await asyncio.sleep(1.5)  # past the freshness grace (1 s + 5 periods at 100 Hz)
        for _ in range(5):
            r = await call(session, "get_time")
            assert r["engine"] == "embedded" and r["status"] == "SYNCHRONIZED", r
            await asyncio.sleep(0.1)


def test_mcp_inspector_cli_without_a_daemon(shm_path, nts_config):
    if not INSPECTOR.exists():
        pytest.skip("MCP Inspector not installed: run `make tools` (npm)")
    server = [str(BIN / "chronotick-stdio-server"), "--shm-path", shm_path]
    out = subprocess.run(  # the Inspector keeps --config for itself: the engine's config goes by env
        [str(INSPECTOR), "--cli", "-e", f"CHRONOTICK_CONFIG={nts_config}", *server]
        + ["--method", "tools/call", "--tool-name", "get_time"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)["structuredContent"]
    assert r["status"] == "SYNCHRONIZED" and r["engine"] == "embedded"


def test_bad_engine_arguments_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("clock_measurement: {ntp: {servers: []}}\n")
    for args, want in (
        (["--engine", "cloud"], "invalid choice"),
        (["--sync-wait", "soon"], "not a number"),
        (["--sync-wait", "1e9"], "0-60 seconds"),
        (["--config", str(bad)], "servers"),
        (["--config", str(tmp_path / "none.yaml")], "no such file"),
    ):
        out = subprocess.run(
            [str(BIN / "chronotick-stdio-server"), *args],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert out.returncode == 2 and want in out.stderr and out.stderr.count("\n") <= 2, (args, out.stderr)
        assert "Traceback" not in out.stderr


# -------------------------------------------------------------------------------------------- HTTP


async def test_http_server_without_a_daemon(shm_path, nts_config):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from chronotick_engine.testing.localntp import free_tcp_port

    port = free_tcp_port()
    proc = subprocess.Popen(
        [str(BIN / "chronotick-http-server"), "--port", str(port), "--shm-path", shm_path]
        + ["--config", str(nts_config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(100):
            try:
                async with (
                    streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write, *_),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    r = await call(session, "get_time")
                    break
            except Exception:
                if proc.poll() is not None:
                    raise AssertionError(proc.stderr.read()) from None
                await asyncio.sleep(0.1)
        assert r["status"] == "SYNCHRONIZED" and r["engine"] == "embedded", r
    finally:
        proc.terminate()
        proc.wait(10)


# ------------------------------------------------------------------------------ SDK, Python client


async def test_sdk_instance_without_a_daemon(shm_path, nts_config):
    pytest.importorskip("claude_agent_sdk")
    from mcp import Client as McpClient

    from chronotick_mcp import sdk

    clock = ClockChoice("auto", shm_path, str(nts_config))
    server = sdk.create_chronotick_server(clock=clock)
    try:
        async with McpClient(server["instance"]) as session:
            r = await session.call_tool("get_time", {})
            body = json.loads(r.content[0].text)
            assert body["status"] == "SYNCHRONIZED" and body["engine"] == "embedded", body
    finally:
        clock.close()


def test_python_client_embedded_form(nts_config):
    with EmbeddedClient(str(nts_config)) as c:
        assert c.wait_for_sync(6), c.status()
        r = c.get_time()
        assert r.status == "SYNCHRONIZED" and r.earliest <= r.corrected_timestamp <= r.latest
        assert abs(r.corrected_timestamp - time.time()) < 0.5
        ns, unc = c.now_ns()
        assert abs(ns / 1e9 - time.time()) < 0.5 and unc > 0
        info = c.get_daemon_info()
        assert info.status == "SYNCHRONIZED" and info.shm_path == "embedded" and not c.native
        assert c.get_daemon_detail().servers[0].authenticated
        thread = c.engine._thread
    assert c.status() is Status.FREE_RUNNING  # its engine stopped: the last model, no longer trusted
    thread.join(5)
    assert not thread.is_alive()


def test_open_client_prefers_a_live_daemon(shm_path, live_publisher, nts_config):
    with open_client(shm_path=shm_path, config=str(nts_config)) as c:
        assert c.shm_path == shm_path and c.is_daemon_ready()
    with open_client("daemon", shm_path=shm_path) as c:
        assert c.shm_path == shm_path


def test_a_client_over_a_starting_engine_is_not_ready_yet(dead_config):
    with EmbeddedClient(str(dead_config)) as c:
        assert c.status() in (Status.UNKNOWN, Status.WARMING_UP)
        with pytest.raises(Exception, match="no estimate yet"):
            c.get_time()


def test_engine_choice_validates(tmp_path):
    from chronotick_engine import ConfigError

    with pytest.raises(ConfigError, match="engine must be one of"):
        ClockChoice("cloud")
    with pytest.raises(ConfigError, match="sync wait"):
        ClockChoice("auto", sync_wait=float("nan"))


# ----------------------------------------------------------------------------------- portability


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root for a mount namespace"
)
def test_stdio_server_answers_with_a_read_only_dev_shm(shm_path, nts_config):
    """Inside a mount namespace whose /dev/shm is read-only, nothing can be created there; the
    embedded engine needs nothing there."""
    script = (
        "mount --bind /dev/shm /dev/shm && mount -o remount,ro,bind /dev/shm && "
        '! touch /dev/shm/chronotick_ro_probe 2>/dev/null && exec "$@"'
    )
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    async def run() -> dict:
        params = StdioServerParameters(
            command="unshare",
            args=["-m", "--propagation", "private", "sh", "-c", script, "sh"]
            + [str(BIN / "chronotick-stdio-server"), "--shm-path", shm_path, "--config", str(nts_config)],
            env={**os.environ},
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await call(session, "get_time")

    r = asyncio.run(run())
    assert r["status"] == "SYNCHRONIZED" and r["engine"] == "embedded"


NOT_LINUX = r"""
import sys, os, time, socket
import asyncio, numpy, pydantic, yaml, OpenSSL, cryptography, mcp.server.mcpserver, fastmcp  # third parties first
sys.platform = PLATFORM
for mod, names in ((os, ["sched_setaffinity", "sched_getaffinity", "O_NOFOLLOW", "O_CLOEXEC", "memfd_create"]),
                   (time, ["clock_gettime", "clock_gettime_ns", "CLOCK_BOOTTIME", "CLOCK_MONOTONIC_RAW", "CLOCK_TAI"]),
                   (socket, ["SO_TIMESTAMPNS", "SO_TIMESTAMPING", "SO_TIMESTAMP"])):
    for n in names:
        if hasattr(mod, n):
            delattr(mod, n)
for n in ("fcntl", "grp", "pwd", "resource", "termios"):
    sys.modules[n] = None  # import raises ImportError, as on Windows
import importlib, pkgutil
import chronotick_engine.embedded, chronotick_engine.daemon, chronotick_mcp.stdio_app, chronotick_mcp.app, chronotick_mcp.server
for pkg in ("chronotick_engine.measure", "chronotick_engine.model", "chronotick_engine.daemon", "chronotick_engine.embedded"):
    for info in pkgutil.iter_modules(importlib.import_module(pkg).__path__, pkg + "."):
        if info.name.endswith("timesfm_backend") or info.name.endswith(".metrics"):
            continue  # optional extras
        importlib.import_module(info.name)
from chronotick_engine.embedded import EmbeddedClient
with EmbeddedClient(CONFIG) as c:
    print(c.wait_for_sync(8), c.get_time().status)
"""


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_the_embedded_path_imports_and_runs_without_linux_only_calls(platform, nts_config):
    code = NOT_LINUX.replace("PLATFORM", repr(platform)).replace("CONFIG", repr(str(nts_config)))
    out = subprocess.run(
        [str(BIN / "python"), "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["True", "SYNCHRONIZED"], out.stdout
