"""`chronotick-client`: status, read, watch and benchmark against the shared-memory segment.

Exit codes: 0 ok, 1 daemon absent or not ready, 2 usage error. Never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from datetime import UTC, datetime

from chronotick_engine.cli.common import EXIT_OK, EXIT_USAGE, Parser, run_entry
from chronotick_engine.client import ChronoTickClient, DaemonInfo, TimeReading
from chronotick_engine.errors import ChronoTickError
from chronotick_engine.protocol.codec import Status
from chronotick_engine.protocol.detail import DaemonDetail, without_schedule
from chronotick_engine.protocol.paths import DEFAULT_PATH, default_path

EXIT_NOT_READY = 1  # the daemon is absent or not SYNCHRONIZED


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--shm-path",
        default=default_path(),
        help=f"segment path (default $CHRONOTICK_SHM_PATH or {DEFAULT_PATH})",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    p = Parser(prog="chronotick-client", description="Read ChronoTick's corrected time and daemon status.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("status", parents=[common], help="daemon health at a glance")
    sub.add_parser("read", parents=[common], help="one reading of the corrected clock")
    w = sub.add_parser("watch", parents=[common], help="live view, refreshed in place")
    w.add_argument("--interval", type=float, default=0.5, help="refresh period in seconds")
    w.add_argument("--count", type=int, default=0, help="stop after N refreshes (0 = until Ctrl-C)")
    b = sub.add_parser("benchmark", parents=[common], help="read latency vs time.time_ns(), JSON")
    b.add_argument("--iterations", type=int, default=200_000)
    b.add_argument("--repeats", type=int, default=7)
    return p


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


def reading_dict(client: ChronoTickClient) -> dict:
    r = client.get_time()
    return {
        "corrected_time": _iso(r.corrected_timestamp),
        "corrected_timestamp": r.corrected_timestamp,
        "corrected_ns": r.corrected_ns,
        "system_timestamp": r.system_timestamp,
        "uncertainty_ms": r.uncertainty_seconds * 1e3,
        "earliest": r.earliest,
        "latest": r.latest,
        "offset_ms": r.offset_correction * 1e3,
        "drift_ppm": r.drift_rate * 1e6,
        "status": r.status,
        "source": r.source,
        "confidence": r.confidence,
        "seconds_since_ntp": r.seconds_since_ntp,
    }


def _status_table(info: DaemonInfo, reading: TimeReading | None, detail: DaemonDetail | None) -> str:
    since = info.seconds_since_ntp
    rows = [
        ("status", info.status),
        ("running", "yes" if info.running else ("stopped" if info.stopped else "no (stale)")),
        ("uptime", f"{info.daemon_uptime:.1f} s"),
        ("ntp ready", "yes" if info.ntp_ready else "no"),
        ("models ready", "yes" if info.models_ready else "no"),
        ("measurements", str(info.measurement_count)),
        ("since NTP", "never" if since is None else f"{since:.1f} s"),
        ("segment", info.shm_path),
    ]
    if info.running:  # a stopped daemon publishes nothing: no rate, no latency, no schedule
        rows[-1:-1] = [
            ("publish rate", f"{info.publish_rate_hz:.1f} Hz"),
            ("update latency", f"{info.average_latency_ms:.3f} ms"),
        ]
    if reading is not None:
        rows.insert(1, ("uncertainty", f"±{reading.uncertainty_seconds * 1e3:.3f} ms"))
        rows.insert(2, ("offset", f"{reading.offset_correction * 1e3:+.3f} ms"))
    if detail is not None:
        jitter = detail.publish.period_error_p99_ms
        if jitter is not None and info.running:
            rows.append(("publish jitter p99", f"{jitter:.3f} ms"))
        models = detail.models
        if models.requested:
            state = "in use" if models.ready else f"not in use: {models.error or 'loading'}"
            rows.append(("TimesFM", f"{', '.join(models.requested)}: {state}"))
            if models.inference_ms_p50 is not None:
                rows.append(
                    ("inference", f"p50 {models.inference_ms_p50} ms, p99 {models.inference_ms_p99} ms")
                )
        for srv in detail.servers:
            delay = "—" if srv.last_delay_ms is None else f"{srv.last_delay_ms:.3f} ms"
            rejects = ", ".join(f"{k} {v}" for k, v in srv.rejects.items()) or "none"
            line = f"reach {srv.reach}, delay {delay}, rejects: {rejects}"
            if srv.nts:
                auth = "authenticated" if srv.authenticated else "not authenticated"
                line += f"; NTS {auth}, {srv.nts_cookies} cookies, {srv.nts_key_exchanges} key exchanges"
            if srv.last_error:
                error = srv.last_error if info.running else without_schedule(srv.last_error)
                line += f"; last error: {error}"
            rows.append((f"server {srv.server}", line))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def cmd_status(client: ChronoTickClient, as_json: bool) -> int:
    info = client.get_daemon_info()
    try:
        reading: TimeReading | None = client.get_time()
    except ChronoTickError:
        reading = None
    detail = client.get_daemon_detail()
    if as_json:
        out = info.model_dump()
        if reading is not None:
            out["uncertainty_ms"] = reading.uncertainty_seconds * 1e3
            out["offset_ms"] = reading.offset_correction * 1e3
        out["detail"] = detail.model_dump() if detail is not None else {}
        print(json.dumps(out))
    else:
        print(_status_table(info, reading, detail))
    return EXIT_OK if info.status == Status.SYNCHRONIZED.name else EXIT_NOT_READY


def cmd_read(client: ChronoTickClient, as_json: bool) -> int:
    d = reading_dict(client)
    if as_json:
        print(json.dumps(d))
    else:
        print(f"{d['corrected_time']}  ±{d['uncertainty_ms']:.3f} ms  [{d['status']}, {d['source']}]")
    return EXIT_OK if d["status"] == Status.SYNCHRONIZED.name else EXIT_NOT_READY


def cmd_watch(client: ChronoTickClient, interval: float, count: int) -> int:
    from rich.live import Live
    from rich.table import Table

    def render() -> Table:
        table = Table(title=f"ChronoTick — {client.shm_path}", show_header=False)
        try:
            d = reading_dict(client)
            for key in ("corrected_time", "uncertainty_ms", "offset_ms", "drift_ppm", "status", "source"):
                v = d[key]
                table.add_row(key, f"{v:.4f}" if isinstance(v, float) else str(v))
        except ChronoTickError as exc:
            table.add_row("error", str(exc))
        return table

    n = 0
    with Live(render(), refresh_per_second=max(1, int(1 / interval))) as live:
        try:
            while count == 0 or n < count:
                time.sleep(interval)
                live.update(render())
                n += 1
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def _median_ns(fn, iterations: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(iterations):
            fn()
        samples.append((time.perf_counter_ns() - start) / iterations)
    return statistics.median(samples)


def benchmark(client: ChronoTickClient, iterations: int, repeats: int) -> dict:
    """Read cost against time.time_ns() measured in the same run (ratios survive noisy machines)."""
    client.now_ns()  # map and validate once
    ref = _median_ns(time.time_ns, iterations, repeats)
    now_ns = _median_ns(client.now_ns, iterations, repeats)
    get_time = _median_ns(client.get_time, max(1, iterations // 10), repeats)
    return {
        "benchmark": "client_read",
        "iterations": iterations,
        "repeats": repeats,
        "time_ns_ns": round(ref, 1),
        "now_ns_ns": round(now_ns, 1),
        "now_ns_ratio": round(now_ns / ref, 2),
        "get_time_ns": round(get_time, 1),
        "get_time_ratio": round(get_time / ref, 2),
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "watch" and (not math.isfinite(args.interval) or args.interval <= 0):
        print("chronotick-client: error: --interval must be positive", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "benchmark" and (args.iterations < 1 or args.repeats < 1):
        print("chronotick-client: error: --iterations and --repeats must be positive", file=sys.stderr)
        return EXIT_USAGE
    client = ChronoTickClient(args.shm_path)
    try:
        if args.command == "status":
            return cmd_status(client, args.json)
        if args.command == "read":
            return cmd_read(client, args.json)
        if args.command == "watch":
            return cmd_watch(client, args.interval, args.count)
        print(json.dumps(benchmark(client, args.iterations, args.repeats)))
        return EXIT_OK
    except ChronoTickError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"status": "UNKNOWN", "error": str(exc)}))
        print(f"chronotick-client: {exc}", file=sys.stderr)
        return EXIT_NOT_READY
    finally:
        client.close()


def entry() -> int:
    return run_entry("chronotick-client", main)


if __name__ == "__main__":
    raise SystemExit(entry())
