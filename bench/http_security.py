"""The HTTP transport's defences and what they cost, in one run. Prints one JSON line.

- guard: the Host/Origin guard's cost. The same ChronoTick FastMCP app served twice over loopback,
  with FastMCP's guard on and off, each by `run(transport="http")`; get_time calls alternate
  between them, one session each, and each side's p50 and p99 are compared.
- flood: the real chronotick-http-server takes N `initialize` requests from one client (16 in
  flight); meanwhile and afterwards a second client calls get_time every 50 ms. Reports the codes
  the flood got, the legitimate client's latency during and after, and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from conftest import synced_snapshot  # noqa: E402
from mcpwire import INIT  # noqa: E402

from chronotick_engine.protocol import Publisher, lock_path  # noqa: E402
from chronotick_engine.testing.localntp import free_tcp_port  # noqa: E402

BIN = Path(sys.executable).parent
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
SERVE = """
import sys
from chronotick_engine.embedded import ClockChoice
from chronotick_mcp.app import build_server
path, port, guard = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "on"
build_server(path, clock=ClockChoice("daemon", path)).run(
    transport="http", host="127.0.0.1", port=port, show_banner=False, host_origin_protection=guard, log_level="warning"
)
"""


def keep_fresh(path: str, stop: threading.Event) -> None:
    with Publisher(path) as pub:
        while not stop.is_set():
            m = time.monotonic_ns()
            pub.publish(synced_snapshot(last_publish_mono_ns=m, void_after_mono_ns=m + 30 * 10**9))
            stop.wait(0.01)


async def wait_listening(port: int) -> None:
    for _ in range(300):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * len(v)))], 3)


async def guard_cost(path: str, calls: int) -> dict:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    ports = {"on": free_tcp_port(), "off": free_tcp_port()}
    procs = [
        subprocess.Popen([sys.executable, "-c", SERVE, path, str(port), side], stderr=subprocess.DEVNULL)
        for side, port in ports.items()
    ]
    try:
        for port in ports.values():
            await wait_listening(port)
        ms: dict[str, list[float]] = {"on": [], "off": []}
        async with (
            streamable_http_client(f"http://127.0.0.1:{ports['on']}/mcp") as (r1, w1, *_),
            ClientSession(r1, w1) as on,
            streamable_http_client(f"http://127.0.0.1:{ports['off']}/mcp") as (r2, w2, *_),
            ClientSession(r2, w2) as off,
        ):
            await on.initialize()
            await off.initialize()
            sessions = {"on": on, "off": off}
            for i in range(calls + 50):
                order = ("on", "off") if i % 2 else ("off", "on")
                for side in order:
                    t = time.perf_counter()
                    r = await sessions[side].call_tool("get_time", {})
                    assert not r.is_error, r.content
                    if i >= 50:
                        ms[side].append((time.perf_counter() - t) * 1e3)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
    out = {side: {"p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99)} for side, v in ms.items()}
    out["calls"] = calls
    out["ratio_p99"] = round(out["on"]["p99_ms"] / out["off"]["p99_ms"], 3)
    out["ratio_p50"] = round(statistics.median(ms["on"]) / statistics.median(ms["off"]), 3)
    return out


def rss_mb(pid: int) -> float:
    line = next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("VmRSS"))
    return round(int(line.split()[1]) / 1024, 1)


async def flood(path: str, requests: int) -> dict:
    import httpx2 as httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    port = free_tcp_port()
    proc = subprocess.Popen(
        [str(BIN / "chronotick-http-server"), "--port", str(port), "--shm-path", path, "--engine", "daemon"],
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        await wait_listening(port)
        codes: dict[int, int] = {}
        peak = rss_mb(proc.pid)
        during: list[float] = []
        done = asyncio.Event()

        async def legitimate(into: list[float], until: asyncio.Event | None, count: int = 0) -> None:
            async with streamable_http_client(url) as (r, w, *_), ClientSession(r, w) as s:
                await s.initialize()
                n = 0
                while (until is not None and not until.is_set()) or (until is None and n < count):
                    t = time.perf_counter()
                    res = await s.call_tool("get_time", {})
                    assert not res.is_error
                    into.append((time.perf_counter() - t) * 1e3)
                    n += 1
                    await asyncio.sleep(0.05)

        async def attacker() -> None:
            nonlocal peak
            sem = asyncio.Semaphore(16)
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=16)) as c:

                async def one(i: int) -> None:
                    nonlocal peak
                    async with sem:
                        r = await c.post(url, json=INIT, headers=HEADERS)
                        codes[r.status_code] = codes.get(r.status_code, 0) + 1
                        if i % 500 == 0:
                            peak = max(peak, rss_mb(proc.pid))

                t0 = time.monotonic()
                await asyncio.gather(*(one(i) for i in range(requests)))
                codes_time["seconds"] = round(time.monotonic() - t0, 1)
            done.set()

        codes_time: dict[str, float] = {}
        await asyncio.gather(attacker(), legitimate(during, done))
        after: list[float] = []
        t = time.perf_counter()
        await legitimate(after, None, 20)
        new_client_ms = (time.perf_counter() - t) * 1e3 / 20
        peak = max(peak, rss_mb(proc.pid))
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        "requests": requests,
        "codes": {str(k): v for k, v in codes.items()},
        "flood_seconds": codes_time.get("seconds"),
        "legit_during": {"calls": len(during), "p50_ms": pct(during, 0.5), "p99_ms": pct(during, 0.99)},
        "legit_after": {
            "p50_ms": pct(after, 0.5),
            "p99_ms": pct(after, 0.99),
            "mean_session_ms": round(new_client_ms, 1),
        },
        "peak_rss_mb": peak,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--flood", type=int, default=20000)
    args = p.parse_args()
    path = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    beat = threading.Thread(target=keep_fresh, args=(path, stop), daemon=True)
    beat.start()
    time.sleep(0.2)
    try:
        out = {
            "benchmark": "http_security",
            "guard": asyncio.run(guard_cost(path, args.calls)),
            "flood": asyncio.run(flood(path, args.flood)),
            "targets": {"guard_ratio_p99_max": 1.05, "flood_codes": "all 200", "legit_after_within_ms": 1000},
        }
    finally:
        stop.set()
        beat.join()
        for f in (path, lock_path(path)):
            Path(f).unlink(missing_ok=True)
    print(json.dumps(out))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
