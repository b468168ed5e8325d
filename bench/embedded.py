"""The embedded engine (no daemon), measured against its references in the same run. Prints one JSON
line.

Against a real chronyd serving NTS on loopback under a CA made here:
- cold start of `chronotick-stdio-server --engine embedded` to `initialize` and to the first
  `tools/call` (get_time, --sync-wait 0, so the call measures the server and not the sync), against
  `mcp-server-time` (get_current_time), interleaved;
- spawn to the first SYNCHRONIZED get_time (default --sync-wait), p50 and max;
- the embedded server's CPU while idle after sync, as a share of one core, beside an idle
  mcp-server-time measured over the same seconds;
- the get_time round trip over stdio, embedded against a daemon's segment (the real daemon,
  publishing at 100 Hz), interleaved call by call.

JSON-RPC is written to the pipes directly, so no client library's start-up or overhead is counted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from daemonproc import ROOT_ARGS, nts_entry, write_config  # noqa: E402
from mcp_cold_start import INIT, one_start  # noqa: E402

from chronotick_engine.protocol import detail_path, lock_path  # noqa: E402
from chronotick_engine.testing.certs import TestCA  # noqa: E402
from chronotick_engine.testing.localntp import LocalChrony  # noqa: E402

BIN = Path(sys.executable).parent
OFFICIAL = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]


class Pipe:
    """A stdio MCP server driven over raw JSON-RPC."""

    def __init__(self, cmd: list[str]):
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self._id = 0

    def request(self, method: str, params: dict) -> dict:
        self._id += 1
        msg = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()
        while True:
            reply = json.loads(self.proc.stdout.readline())
            if reply.get("id") == self._id:
                return reply

    def start(self) -> Pipe:
        self.request(INIT["method"], INIT["params"])
        assert self.proc.stdin
        self.proc.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
        self.proc.stdin.flush()
        return self

    def call(self, tool: str, args: dict | None = None) -> dict:
        r = self.request("tools/call", {"name": tool, "arguments": args or {}})["result"]
        assert not r.get("isError"), r
        return r.get("structuredContent", r)

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def ours(config: Path, shm: str, *args: str) -> list[str]:
    return [str(BIN / "chronotick-stdio-server"), "--shm-path", shm, "--local-timezone", "UTC"] + [
        "--config",
        str(config),
        *args,
    ]


def cold_start(config: Path, shm: str, runs: int) -> dict:
    env = dict(os.environ)
    pairs: dict[str, list[tuple[float, float]]] = {"chronotick_embedded": [], "mcp-server-time": []}
    for _ in range(runs):
        pairs["chronotick_embedded"].append(
            one_start(ours(config, shm, "--engine", "embedded", "--sync-wait", "0"), "get_time", {}, env)
        )
        pairs["mcp-server-time"].append(one_start(OFFICIAL, "get_current_time", {"timezone": "UTC"}, env))
    out = {
        name: {
            "initialize_ms": round(statistics.median(p[0] for p in v), 1),
            "first_call_ms": round(statistics.median(p[1] for p in v), 1),
        }
        for name, v in pairs.items()
    }
    a, b = out["chronotick_embedded"], out["mcp-server-time"]
    out["ratio_initialize"] = round(a["initialize_ms"] / b["initialize_ms"], 3)
    out["ratio_first_call"] = round(a["first_call_ms"] / b["first_call_ms"], 3)
    return out


def time_to_sync(config: Path, shm: str, runs: int) -> dict:
    took, statuses = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = Pipe(ours(config, shm, "--engine", "embedded")).start()
        r = p.call("get_time")
        took.append(time.perf_counter() - t0)
        statuses.append(r["status"])
        p.close()
    return {
        "p50_s": round(statistics.median(took), 3),
        "max_s": round(max(took), 3),
        "synchronized": statuses.count("SYNCHRONIZED"),
        "runs": runs,
    }


def idle_cpu(config: Path, shm: str, seconds: float) -> dict:
    emb = Pipe(ours(config, shm, "--engine", "embedded")).start()
    ref = Pipe(OFFICIAL).start()
    assert emb.call("get_time")["status"] == "SYNCHRONIZED"
    ref.call("get_current_time", {"timezone": "UTC"})
    time.sleep(2)
    c0, r0, t0 = emb.cpu_s(), ref.cpu_s(), time.monotonic()
    time.sleep(seconds)
    c1, r1, t1 = emb.cpu_s(), ref.cpu_s(), time.monotonic()
    emb.close()
    ref.close()
    return {
        "seconds": round(t1 - t0, 1),
        "embedded_core_pct": round(100 * (c1 - c0) / (t1 - t0), 3),
        "mcp_server_time_core_pct": round(100 * (r1 - r0) / (t1 - t0), 3),
    }


def round_trip(config: Path, shm: str, calls: int) -> dict:
    daemon = subprocess.Popen(
        [str(BIN / "chronotick-daemon"), "--config", str(config), "--shm-path", shm, *ROOT_ARGS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    emb = Pipe(ours(config, shm + "_none", "--engine", "embedded")).start()
    seg = Pipe(ours(config, shm, "--engine", "daemon")).start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if (
                    seg.request("tools/call", {"name": "get_time", "arguments": {}})["result"][
                        "structuredContent"
                    ]["status"]
                    == "SYNCHRONIZED"
                ):
                    break
            except (KeyError, TypeError):
                pass
            time.sleep(0.2)
        assert emb.call("get_time")["engine"] == "embedded"
        ms: dict[str, list[float]] = {"embedded": [], "segment": []}
        for i in range(calls + 50):
            for name, p in (
                (("embedded", emb), ("segment", seg)) if i % 2 else (("segment", seg), ("embedded", emb))
            ):
                t = time.perf_counter()
                p.call("get_time")
                if i >= 50:
                    ms[name].append((time.perf_counter() - t) * 1e3)
    finally:
        emb.close()
        seg.close()
        daemon.terminate()
        daemon.wait(15)
    out: dict = {"calls": calls}
    for name, v in ms.items():
        v.sort()
        out[name] = {"p50_ms": round(statistics.median(v), 3), "p99_ms": round(v[int(0.99 * len(v))], 3)}
    out["ratio_p50"] = round(out["embedded"]["p50_ms"] / out["segment"]["p50_ms"], 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--idle-seconds", type=float, default=30.0)
    p.add_argument("--calls", type=int, default=500)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chronotick-bench-"))
    ca = TestCA(work / "pki")
    shm = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
    with LocalChrony(nts=ca.issue("server", ["localhost"], ["127.0.0.1"])) as server:
        config = write_config(work, [nts_entry(server.nts_port, ca)])
        out = {
            "benchmark": "embedded_engine",
            "cold_start": cold_start(config, shm + "_none", args.runs),
            "spawn_to_synchronized": time_to_sync(config, shm + "_none", args.runs),
            "idle_cpu": idle_cpu(config, shm + "_none", args.idle_seconds),
            "get_time_round_trip": round_trip(config, shm, args.calls),
            "targets": {
                "cold_start_ratio_max": 1.10,
                "sync_p50_s_max": 3.0,
                "sync_max_s_max": 5.0,
                "idle_core_pct_max": 1.0,
                "round_trip_ratio_max": 1.10,
            },
        }
    for f in (shm, lock_path(shm), detail_path(shm)):
        Path(f).unlink(missing_ok=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
