"""Cold start of the stdio server against the official `mcp-server-time`, interleaved: spawn to the
`initialize` reply, and spawn to the first `tools/call` reply (get_time against get_current_time).
JSON-RPC is written to the pipes directly, so no client library's own start-up is counted. Prints
one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import synced_snapshot  # noqa: E402
from mcpwire import INIT  # noqa: E402

from chronotick_engine.protocol import Publisher, lock_path  # noqa: E402

BIN = Path(sys.executable).parent


def one_start(cmd: list[str], tool: str, args: dict, env: dict) -> tuple[float, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert proc.stdin and proc.stdout

    def send(msg: dict) -> None:
        proc.stdin.write((json.dumps(msg) + "\n").encode())
        proc.stdin.flush()

    def reply(want_id: int) -> dict:
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{cmd[0]} closed stdout")
            msg = json.loads(line)
            if msg.get("id") == want_id:
                return msg

    send(INIT)
    reply(1)
    t_init = time.perf_counter() - t0
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": args}})
    r = reply(2)
    t_call = time.perf_counter() - t0
    assert not r.get("result", {}).get("isError"), r
    proc.stdin.close()
    proc.wait(10)
    return t_init * 1e3, t_call * 1e3


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=9)
    p.add_argument(
        "--baseline",
        metavar="TREE",
        help="also start the stdio server of another checkout of this repository (e.g. a git worktree "
        "of an earlier commit, with the same venv), interleaved: before against after",
    )
    opts = p.parse_args()
    runs = opts.runs
    path = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "CHRONOTICK_SHM_PATH": path}
    servers = {
        "chronotick": ([str(BIN / "chronotick-stdio-server"), "--local-timezone", "UTC"], "get_time", {}),
        "mcp-server-time": (
            [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"],
            "get_current_time",
            {"timezone": "UTC"},
        ),
    }
    envs = {name: env for name in servers}
    if opts.baseline:
        servers["chronotick_baseline"] = servers["chronotick"]
        envs["chronotick_baseline"] = {**env, "PYTHONPATH": str(Path(opts.baseline).resolve())}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
    with Publisher(path) as pub:
        for _ in range(runs):
            for name, (cmd, tool, args) in servers.items():
                m = time.monotonic_ns()
                pub.publish(
                    synced_snapshot(last_publish_mono_ns=m + 600 * 10**9, void_after_mono_ns=m + 900 * 10**9)
                )
                times[name].append(one_start(cmd, tool, args, envs[name]))
    for f in (path, lock_path(path)):
        Path(f).unlink(missing_ok=True)
    out: dict = {"benchmark": "mcp_cold_start", "runs": runs}
    for name, pairs in times.items():
        out[name] = {
            "initialize_ms": round(statistics.median(p[0] for p in pairs), 1),
            "first_call_ms": round(statistics.median(p[1] for p in pairs), 1),
            "fastest_initialize_ms": round(min(p[0] for p in pairs), 1),
        }
    ours, theirs = out["chronotick"], out["mcp-server-time"]
    out["ratio_initialize"] = round(ours["initialize_ms"] / theirs["initialize_ms"], 3)
    out["ratio_first_call"] = round(ours["first_call_ms"] / theirs["first_call_ms"], 3)
    out["ratio_fastest_initialize"] = round(
        ours["fastest_initialize_ms"] / theirs["fastest_initialize_ms"], 3
    )
    if "chronotick_baseline" in out:
        base = out["chronotick_baseline"]
        out["ratio_initialize_vs_baseline"] = round(ours["initialize_ms"] / base["initialize_ms"], 3)
        out["ratio_fastest_initialize_vs_baseline"] = round(
            ours["fastest_initialize_ms"] / base["fastest_initialize_ms"], 3
        )
    out["targets"] = {"ratio_max": 1.0}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
