"""Local users and web pages as attackers, for real: a second user (`nobody`, through runuser)
planting files where the daemon and its readers look, and HTTP requests a web page or a flood
would send to the real HTTP server. Each defence is named in docs/SECURITY.md's table."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from conftest import BIN, fresh
from daemonproc import write_config
from mcpwire import INIT

from chronotick_engine import ChronoTickClient, detail_path
from chronotick_engine.protocol import lock_path
from chronotick_engine.protocol.detail import MAX_DETAIL_BYTES, read_detail
from chronotick_engine.testing.localntp import free_tcp_port

pytestmark = pytest.mark.integration

AS_ROOT = os.geteuid() == 0 and shutil.which("runuser") is not None
needs_nobody = pytest.mark.skipif(not AS_ROOT, reason="plays a second user through runuser: needs root")
CLAUDE = (
    Path(BIN).parent / "lib" / "python3.11" / "site-packages" / "claude_agent_sdk" / "_bundled" / "claude"
)


def as_nobody(script: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    """A shell script run by the user nobody (no access to the checkout: shell tools only)."""
    out = subprocess.run(
        ["runuser", "-u", "nobody", "--", "sh", "-c", script], capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out


def uid_of(path: str) -> int:
    return os.lstat(path).st_uid


NOBODY = 65534


# ------------------------------------------------------------------------------- the daemon's files


@needs_nobody
def test_planted_temporary_names_neither_forge_nor_freeze_the_sidecar(chrony, daemon_factory, shm_path):
    """The old scheme wrote the sidecar through PATH.json.tmp.<pid>: plant a world-writable file, a
    FIFO and a symlink at every such name and at the segment's old temporary name. The sidecar
    stays the daemon's, measurement goes on, and nobody can write the sidecar or the segment."""
    daemon = daemon_factory([chrony.address])
    pid = daemon.proc.pid
    for _ in range(100):
        if os.path.exists(detail_path(shm_path)):
            break
        time.sleep(0.1)
    side = detail_path(shm_path)
    as_nobody(
        f"touch {side}.tmp.{pid} && chmod 666 {side}.tmp.{pid}; "
        f"mkfifo {side}.tmp.{pid + 1}; ln -s /etc/passwd {side}.tmp.{pid + 2}; "
        f"touch {shm_path}.tmp.{pid} && chmod 666 {shm_path}.tmp.{pid}; mkfifo {shm_path}.tmp.{pid + 1}"
    )
    first = daemon.status_file()["samples_accepted"]
    deadline = time.monotonic() + 20
    while daemon.status_file()["samples_accepted"] <= first + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert daemon.status_file()["samples_accepted"] > first + 1, "measurement stopped"
    for path in (side, shm_path):
        st = os.lstat(path)
        assert st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH), path
        tried = as_nobody(f"echo forged >> {path}", check=False)
        assert tried.returncode != 0, f"nobody wrote {path}"
    assert os.path.getsize(f"{side}.tmp.{pid}") == 0  # never written through
    with ChronoTickClient(shm_path) as c:
        assert c.get_daemon_detail() is not None and c.get_daemon_detail().pid == pid


@needs_nobody
@pytest.mark.parametrize("name", ["segment", "lock"])
def test_a_file_planted_at_the_segment_or_lock_is_refused_naming_its_owner(name, tmp_path, shm_path, chrony):
    target = shm_path if name == "segment" else lock_path(shm_path)
    as_nobody(f"touch {target} && chmod 644 {target}")
    started = time.monotonic()
    out = subprocess.run(
        [str(BIN / "chronotick-daemon"), "--config", str(write_config(tmp_path, [chrony.address]))]
        + ["--shm-path", shm_path, "--allow-root"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert time.monotonic() - started < 5
    assert out.returncode == 1 and "nobody" in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr and uid_of(target) == NOBODY


@needs_nobody
def test_a_lock_held_by_nobody_names_nobody(tmp_path, shm_path, chrony):
    lock = lock_path(shm_path)
    holder = subprocess.Popen(["runuser", "-u", "nobody", "--", "flock", lock, "sleep", "30"])
    try:
        for _ in range(50):
            if os.path.exists(lock):
                break
            time.sleep(0.1)
        out = subprocess.run(
            [str(BIN / "chronotick-daemon"), "--config", str(write_config(tmp_path, [chrony.address]))]
            + ["--shm-path", shm_path, "--allow-root"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 1 and "nobody (uid 65534)" in out.stderr, out.stderr
        assert "pid" not in out.stderr  # whatever the squatter wrote is never quoted as a culprit
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------------------------------- readers

DEEP = "[" * 100_000 + "]" * 100_000


def plant_sidecar(shm_path: str, kind: str) -> None:
    side = detail_path(shm_path)
    if kind == "fifo":
        os.mkfifo(side)
    elif kind == "symlink":
        os.symlink("/dev/zero", side)
    elif kind == "100MB":
        with open(side, "wb") as fh:
            fh.truncate(100 * 1024 * 1024)
    elif kind == "deep":
        Path(side).write_text(DEEP)
    elif kind == "nobody":
        as_nobody(f"echo '{{\"pid\": 1}}' > {side}")
    os.chmod(side, 0o644, follow_symlinks=False) if kind != "symlink" and kind != "nobody" else None


KINDS = ["fifo", "symlink", "100MB", "deep"] + (["nobody"] if AS_ROOT else [])


@pytest.mark.parametrize("kind", KINDS)
def test_readers_of_a_hostile_sidecar_answer_within_1_s_without_detail(kind, live_publisher, shm_path):
    plant_sidecar(shm_path, kind)
    t = time.monotonic()
    assert read_detail(shm_path) is None or kind == "nobody"
    with ChronoTickClient(shm_path) as c:
        assert c.get_daemon_detail() is None and c.status().name == "SYNCHRONIZED"
    out = subprocess.run(
        [str(BIN / "chronotick-client"), "status", "--json", "--shm-path", shm_path],
        capture_output=True,
        text=True,
        timeout=10,
    )
    report = json.loads(out.stdout)
    assert report["status"] == "SYNCHRONIZED" and not report.get("detail"), out.stdout[:500]
    assert time.monotonic() - t < 1.0 + 1.0  # the CLI's own start-up is most of it
    assert MAX_DETAIL_BYTES == 64 * 1024


@pytest.mark.parametrize("kind", ["fifo", "deep"])
async def test_mcp_status_over_http_with_a_hostile_sidecar(kind, live_publisher, shm_path):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    plant_sidecar(shm_path, kind)
    with http_server(shm_path) as url:
        async with streamable_http_client(url) as (read, write, *_), ClientSession(read, write) as session:
            await session.initialize()
            t = time.monotonic()
            r = await session.call_tool("get_daemon_status", {})
            assert time.monotonic() - t < 1.0
    s = r.structured_content
    assert s["status"] == "SYNCHRONIZED" and s["servers"] is None and s["engine"] == "daemon"


def test_the_c_reader_does_not_hang_on_a_fifo(shm_path, tmp_path):
    os.mkfifo(shm_path)
    src = Path(__file__).resolve().parent.parent / "clients" / "c" / "example.c"
    exe = tmp_path / "example"
    subprocess.run(
        ["cc", "-std=c11", "-O2", "-o", str(exe), str(src), "-lm"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    out = subprocess.run(
        [str(exe)],
        env={**os.environ, "CHRONOTICK_SHM_PATH": shm_path},
        capture_output=True,
        text=True,
        timeout=5,
    )
    assert out.returncode != 0 and "regular file" in (out.stderr + out.stdout), out


# ------------------------------------------------------------------------------------------ HTTP


class http_server:
    """The real chronotick-http-server on a free loopback port (daemon engine)."""

    def __init__(self, shm_path: str, *args: str):
        self.port = free_tcp_port()
        self.proc = subprocess.Popen(
            [str(BIN / "chronotick-http-server"), "--port", str(self.port), "--shm-path", shm_path]
            + ["--engine", "daemon", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def __enter__(self) -> str:
        import socket

        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return f"http://127.0.0.1:{self.port}/mcp"
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stderr.read())
            time.sleep(0.05)
        raise AssertionError("the HTTP server did not listen")

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


JSON_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def test_dns_rebinding_is_refused_and_real_clients_connect(live_publisher, shm_path, tmp_path):
    import httpx2 as httpx

    with http_server(shm_path) as url:
        port = url.split(":")[2].split("/")[0]
        post = lambda **h: httpx.post(url, json=INIT, headers={**JSON_HEADERS, **h}, timeout=10)  # noqa: E731
        assert post(origin="http://evil.example").status_code == 403
        assert post(host=f"evil.example:{port}").status_code == 421
        assert (
            post(origin=f"http://rebind.evil.example:{port}", host=f"rebind.evil.example:{port}").status_code
            == 421
        )
        assert post().status_code == 200
        assert post(origin=f"http://127.0.0.1:{port}").status_code == 200
        assert post(origin=f"http://localhost:{port}", host=f"localhost:{port}").status_code == 200
        if CLAUDE.exists():  # Claude Code itself, with a home of its own
            env = {**os.environ, "HOME": str(tmp_path)}

            def run(*a: str) -> subprocess.CompletedProcess:
                return subprocess.run(
                    [str(CLAUDE), *a], capture_output=True, text=True, timeout=90, env=env, cwd=tmp_path
                )

            assert run("mcp", "add", "--transport", "http", "chronotick-http", url).returncode == 0
            listed = run("mcp", "list")
            assert "chronotick-http" in listed.stdout and "Connected" in listed.stdout, (
                listed.stdout + listed.stderr
            )


def test_allowed_host_and_origin_widen_the_guard(live_publisher, shm_path):
    import httpx2 as httpx

    with http_server(
        shm_path, "--allowed-host", "proxy.example", "--allowed-origin", "https://app.example"
    ) as url:
        post = lambda **h: httpx.post(url, json=INIT, headers={**JSON_HEADERS, **h}, timeout=10)  # noqa: E731
        assert post(host="proxy.example").status_code == 200
        assert post(origin="https://app.example").status_code == 200
        assert post(origin="https://other.example").status_code == 403


def rss_mb(pid: int) -> float:
    line = next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


RSS_BOUND_MB = 300  # 1,000 sessions of ~40 KB on a ~100 MB server


@pytest.mark.slow
async def test_a_session_flood_cannot_lock_out_another_client(live_publisher, shm_path):
    """20,000 initialize requests from one client; then a second client's get_time succeeds within
    1 s, and the server's memory stays bounded."""
    import httpx2 as httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    with http_server(shm_path) as url:
        pid = None
        peak = 0.0
        codes: dict[int, int] = {}
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=16)) as flood:
            sem = asyncio.Semaphore(16)

            async def one(i: int) -> None:
                nonlocal peak
                async with sem:
                    r = await flood.post(url, json=INIT, headers=JSON_HEADERS)
                    codes[r.status_code] = codes.get(r.status_code, 0) + 1
                    if i % 2000 == 0:
                        peak = max(peak, rss_mb(server_pid))

            server_pid = pid = [p for p in os.listdir("/proc") if p.isdigit() and _is_server(p, url)][0]
            await asyncio.gather(*(one(i) for i in range(20_000)))
        assert codes == {200: 20_000}, codes
        t = time.monotonic()
        async with streamable_http_client(url) as (read, write, *_), ClientSession(read, write) as session:
            await session.initialize()
            fresh(live_publisher)
            r = await session.call_tool("get_time", {})
        assert not r.is_error and time.monotonic() - t < 1.0
        peak = max(peak, rss_mb(pid))
        assert peak < RSS_BOUND_MB, f"peak RSS {peak:.0f} MB"


def _is_server(pid: str, url: str) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    port = url.split(":")[2].split("/")[0].encode()
    return any(b"chronotick-http-server" in c for c in cmd) and port in cmd


def test_port_in_use_is_one_line(shm_path):
    with http_server(shm_path) as url:
        port = url.split(":")[2].split("/")[0]
        out = subprocess.run(
            [str(BIN / "chronotick-http-server"), "--port", port, "--engine", "daemon"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert (
        out.returncode == 2
        and out.stderr == f"chronotick-http-server: error: port {port} on 127.0.0.1 is in use\n"
    )


# ------------------------------------------------------------------------------------ bounded input


@pytest.mark.parametrize("kind", ["/dev/zero", "100MB", "duplicate", "bool"])
def test_hostile_configs_are_refused_in_one_line_within_1_s(kind, tmp_path):
    path = tmp_path / "c.yaml"
    if kind == "/dev/zero":
        path = Path("/dev/zero")
    elif kind == "100MB":
        with path.open("wb") as fh:
            fh.truncate(100 * 1024 * 1024)
    elif kind == "duplicate":
        path.write_text("daemon:\n  freq_hz: 10\n  freq_hz: 20\n")
    else:
        path.write_text("clock_measurement:\n  ntp:\n    timeout_seconds: yes\n")
    t = time.monotonic()
    out = subprocess.run(
        [str(BIN / "chronotick-daemon"), "--config", str(path), "--check-config"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    took = time.monotonic() - t
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    want = {
        "/dev/zero": "not a regular file",
        "100MB": "limit",
        "duplicate": "freq_hz",
        "bool": "timeout_seconds",
    }
    assert want[kind] in out.stderr and took < 1.0 + 1.5  # the interpreter's start-up included


HUGE = "x" * (1024 * 1024)
HUGE_ARGS = {
    "get_time": {"timezone": HUGE},
    "convert_time": {"source_timezone": HUGE, "time": HUGE, "target_timezone": HUGE},
    "compare_times": {"a": {"earliest": HUGE}, "b": {"corrected_unix": HUGE}},
    "time_until": {"target": HUGE},
    "get_daemon_status": {"extra": HUGE},
    "get_time_with_future_uncertainty": {"future_seconds": HUGE},
}


async def test_a_1_mb_argument_gets_a_short_reply_on_every_tool(live_publisher, shm_path):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=str(BIN / "chronotick-stdio-server"), args=["--shm-path", shm_path], env={**os.environ}
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for tool, args in HUGE_ARGS.items():
            r = await session.call_tool(tool, args)
            text = r.content[0].text
            assert r.is_error and len(text.encode()) <= 2048 and "\n" not in text, (tool, text[:200])
    from fastmcp import Client

    from chronotick_engine.embedded import ClockChoice
    from chronotick_mcp.app import build_server

    async with Client(build_server(shm_path, clock=ClockChoice("daemon", shm_path))) as c:  # HTTP's app
        for tool, args in HUGE_ARGS.items():
            r = await c.call_tool(tool, args, raise_on_error=False)
            text = r.content[0].text
            assert r.is_error and len(text.encode()) <= 2048 and "\n" not in text, (tool, text[:200])


# ------------------------------------------------------------------------------------- operations


def start_daemon_at(shm_path: str) -> subprocess.CompletedProcess:
    """The daemon's start at `shm_path`, which is expected to fail before any measurement."""
    cmd = [str(BIN / "chronotick-daemon"), "--shm-path", shm_path, "--allow-root", "--server", "127.0.0.1:9"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def test_a_directory_as_segment_path_creates_nothing_beside_it(tmp_path):
    target = tmp_path / "dir"
    target.mkdir()
    out = start_daemon_at(str(target))
    assert out.returncode == 1 and "is a directory" in out.stderr and out.stderr.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["dir"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs: needs root")
@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_a_read_only_or_full_directory_is_one_line_naming_the_path(fault, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mnt)], check=True)
    try:
        if fault == "full":
            subprocess.run(["dd", "if=/dev/zero", f"of={mnt}/fill", "bs=4k"], capture_output=True)
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        before = set(os.listdir(mnt))
        out = start_daemon_at(f"{mnt}/seg")
        assert out.returncode == 1 and out.stderr.count("\n") == 1 and f"{mnt}/seg" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and set(os.listdir(mnt)) == before
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_failing_calls_and_dropped_clients_leave_the_log_quiet(shm_path):
    """A hundred failing tool calls (no daemon) and a hundred clients that hang up mid-stream: each is
    an answer or a routine event, not a server fault, so nothing reaches the log at its default level."""
    import socket

    import httpx2 as httpx

    server = http_server(shm_path)
    with server as url:
        port = int(url.split(":")[2].split("/")[0])
        init = httpx.post(url, json=INIT, headers=JSON_HEADERS, timeout=10)
        sid = init.headers["mcp-session-id"]
        session = {**JSON_HEADERS, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}
        for i in range(100):
            call = {
                "jsonrpc": "2.0",
                "id": i + 2,
                "method": "tools/call",
                "params": {"name": "get_time", "arguments": {}},
            }
            assert httpx.post(url, json=call, headers=session, timeout=10).status_code == 200
            with socket.create_connection(("127.0.0.1", port)) as s:  # an event stream, dropped at once
                s.sendall(
                    f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
                    f"mcp-session-id: {sid}\r\nmcp-protocol-version: 2025-06-18\r\n\r\n".encode()
                )
        time.sleep(0.5)
    assert server.proc.stderr.read() == ""


def test_a_missing_token_gets_a_401_that_says_how_to_give_it(shm_path, tmp_path):
    import httpx2 as httpx

    token = tmp_path / "token"
    token.write_text("s3cret-" + os.urandom(6).hex() + "\n")
    with http_server(shm_path, "--token-file", str(token)) as url:
        missing = httpx.post(url, json=INIT, headers=JSON_HEADERS, timeout=10)
        wrong = httpx.post(
            url, json=INIT, headers={**JSON_HEADERS, "authorization": "Bearer nope"}, timeout=10
        )
        right = httpx.post(
            url,
            json=INIT,
            headers={**JSON_HEADERS, "authorization": f"Bearer {token.read_text().strip()}"},
            timeout=10,
        )
    assert missing.status_code == 401 and missing.headers["content-type"] == "application/json"
    assert "needs a bearer token" in missing.json()["error_description"]
    assert '--header "Authorization: Bearer <token>"' in missing.json()["error_description"]
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_token"
    assert right.status_code == 200
