"""Mutation fuzzing of every parser that takes outside input; one JSON line per target.

Targets: the NTP reply parser, the NTS-KE record parser, the NTS extension-field checks (a sealed
reply under the right key, mutated), the segment decoder, the config loader (YAML text) and the
MCP tool argument checks, each tool a target of its own. Each execution feeds a seeded mutation of a valid input (bit flips, byte
rewrites, truncation, extension, splices) or plain random bytes. The only acceptable outcomes are a
result or the target's own one-line error type; anything else is a crash and is printed. The
slowest single execution is reported too: a hang would show there.

    python bench/fuzz.py [--executions N] [--seed S]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

from chronotick_engine.config import default_config_text, parse_config
from chronotick_engine.errors import ConfigError, SegmentError
from chronotick_engine.measure import nts_fields, nts_records
from chronotick_engine.measure.ntp import Rejected, build_request, ns_to_ntp, parse_reply
from chronotick_engine.protocol import Source, Status, decode, empty_snapshot, encode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from toolctx import context  # noqa: E402

from chronotick_mcp.tools import CORE_TOOLS  # noqa: E402


def mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and data:
            i = rng.randrange(len(data) * 8)
            data[i // 8] ^= 1 << (i % 8)
        elif op == 1 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 2:
            del data[rng.randrange(len(data) + 1) :]
        elif op == 3:
            data += rng.randbytes(rng.randint(1, 16))
        elif op == 4 and data:
            i, j = sorted(rng.randrange(len(data) + 1) for _ in range(2))
            data[i:j] = rng.randbytes(j - i)
        else:
            data = bytearray(rng.randbytes(len(seed)))
    return bytes(data)


def ntp_reply_seed(cookie: int, t1: int) -> bytes:
    ts = ns_to_ntp(t1 + 1000)
    header = bytes([0x24, 2, 6, 0xEC]) + struct.pack("!II", 100, 200) + b"GPS\0"
    return header + struct.pack("!QQQQ", ts, cookie, ts, ts + 10)


def ke_response_seed() -> bytes:
    u16 = struct.Struct("!H")
    return (
        nts_records.record(nts_records.NEXT_PROTOCOL, u16.pack(0))
        + nts_records.record(nts_records.AEAD_ALGORITHM, u16.pack(15))
        + b"".join(nts_records.record(nts_records.NEW_COOKIE, bytes([i]) * 100, False) for i in range(8))
        + nts_records.record(nts_records.NTPV4_SERVER, b"ntp.example")
        + nts_records.record(nts_records.NTPV4_PORT, u16.pack(123))
        + nts_records.record(nts_records.END_OF_MESSAGE)
    )


def segment_seed() -> bytes:
    snap = empty_snapshot(7, time.monotonic_ns(), time.time_ns())
    snap = dataclasses.replace(snap, status=Status.SYNCHRONIZED, source=Source.CLASSICAL)
    return encode(snap, 2)


def run(
    name: str, fn: Callable[[bytes], object], expected: type[BaseException], seed: bytes, n: int, rng
) -> dict:
    crashes: list[str] = []
    ok = rejected = 0
    slowest = 0.0
    for _ in range(n):
        data = mutate(rng, seed) if rng.random() < 0.9 else rng.randbytes(rng.randint(0, 2 * len(seed)))
        t0 = time.perf_counter()
        try:
            fn(data)
            ok += 1
        except expected:
            rejected += 1
        except Exception as exc:  # a crash: the point of fuzzing is to find these
            if len(crashes) < 5:
                crashes.append(f"{type(exc).__name__}: {exc} <- {data[:64].hex()}")
        slowest = max(slowest, time.perf_counter() - t0)
    return {
        "benchmark": "fuzz",
        "target": name,
        "executions": n,
        "accepted": ok,
        "rejected_cleanly": rejected,
        "crashes": n - ok - rejected,
        "crash_examples": crashes,
        "slowest_execution_ms": round(slowest * 1e3, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--executions", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tool-executions", type=int, default=5_000, help="executions per MCP tool")
    p.add_argument("--only", action="append", help="run only the targets whose name holds this")
    args = p.parse_args()
    rng = random.Random(args.seed)
    n = args.executions

    cookie, t1 = 0x0123456789ABCDEF, time.time_ns()
    assert len(build_request(cookie)) == 48

    def ntp(data: bytes) -> object:
        return parse_reply(data, cookie, t1, t1 + 2_000_000, 1.0)

    def segment(data: bytes) -> object:
        return decode(data)

    def ke_records(data: bytes) -> object:
        nts_records.complete_length(data)
        return nts_records.parse_response(data)

    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

    from chronotick_engine.testing.ntsreply import server_reply

    key, uid = bytes(range(32)), bytes(range(32, 64))
    s2c = AESSIV(key)
    sealed = server_reply(ntp_reply_seed(cookie, t1), uid, key, [bytes([i]) * 100 for i in range(7)])

    def nts_reply(data: bytes) -> object:
        nts_fields.is_nak(data, uid)
        return nts_fields.verify_reply(data, uid, s2c)

    def config(data: bytes) -> object:
        import yaml

        try:
            parsed = yaml.safe_load(data.decode("utf-8", "replace"))
        except yaml.YAMLError:
            raise ConfigError("invalid YAML") from None
        return parse_config(parsed, "fuzz")

    from chronotick_engine.embedded import ClockChoice
    from chronotick_mcp.tools import TOOLS, ToolContext, ToolFailure

    no_daemon = ToolContext(ClockChoice("daemon", "/nonexistent/chronotick_shm"), "UTC")
    # The calendar tools read now (and its error bar) on most paths: a fixed corrected now a
    # second before midnight in Tokyo, with a bar of two seconds, so those paths run too.
    fixed_now = context("2026-12-04T23:59:59+09:00", half_s=2.0, zone="Asia/Tokyo")

    def mcp_args_of(spec) -> Callable[[bytes], object]:
        ctx = no_daemon if spec in CORE_TOOLS else fixed_now

        def call(data: bytes) -> object:
            """Arguments from the bytes: half the time the seed call with values swapped for
            awkward ones (structure kept, so the tool's own logic runs); else the bytes as JSON
            when they parse, else their text in every field."""
            text = data.decode("utf-8", "replace")
            if data and data[0] % 2:
                args = mutate_call(random.Random(data), TOOL_SEEDS.get(spec.name, {}), spec)
            else:
                try:
                    args = json.loads(text)
                except ValueError:
                    args = dict.fromkeys(spec.input.model_fields, text)
            if not isinstance(args, dict):
                args = {"value": args}
            result = spec.call(ctx, args)
            # The result must fit its own output schema: finite numbers (JSON has no NaN or inf,
            # which a client would receive as null) and every field of the result model.
            spec.result.model_validate_json(json.dumps(result.model_dump(mode="json"), allow_nan=False))
            return result

        return call

    targets = [
        ("ntp_reply_parser", ntp, Rejected, ntp_reply_seed(cookie, t1), n),
        ("nts_ke_record_parser", ke_records, nts_records.KeError, ke_response_seed(), n),
        ("nts_extension_fields", nts_reply, nts_fields.FieldError, sealed, n),
        ("segment_decoder", segment, SegmentError, segment_seed(), n),
        ("config_loader", config, ConfigError, default_config_text().encode(), max(1, n // 10)),
    ]
    for spec in TOOLS:
        seed = json.dumps(TOOL_SEEDS.get(spec.name, {})).encode()
        targets.append((f"mcp_tool:{spec.name}", mcp_args_of(spec), ToolFailure, seed, args.tool_executions))
    for name, fn, expected, seed, count in targets:
        if args.only and not any(o in name for o in args.only):
            continue
        print(json.dumps(run(name, fn, expected, seed, count, rng)), flush=True)


AWKWARD: list[object] = [
    "",
    "now",
    "today",
    "tomorrow 9am",
    "next friday",
    "in 3 hours",
    "3 days ago",
    "end of month",
    "start of next quarter",
    "01/02/2027",
    "25:00",
    "2024-02-29",
    "2027-02-29",
    "9999-12-31T23:59:59",
    "0001-01-01",
    "0001-01-01T00:00:00+14:00",
    "2011-12-30T12:00",
    "2027-03-14T02:30",
    "P10000Y",
    "P10001Y",
    "-PT90M",
    "P1Y2M3W4DT5H6M7.5S",
    "PT",
    "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=DAILY;COUNT=3",
    "FREQ=YEARLY;UNTIL=20200101T000000Z",
    "Pacific/Apia",
    "Europe/Dublin",
    "Mars/Olympus",
    "XX",
    "BY",
    "Germany",
    "x" * 10_000,
    "\u0000",
    "1e12",
    "NaN",
    10**400,
    -(10**400),
    2**63,
    1e308,
    -1e308,
    0,
    -1,
    1,
    1.5,
    1e11,
    -62_135_596_800,
    True,
    None,
    [],
    {},
]


def mutate_call(rng: random.Random, seed: dict, spec) -> dict:
    """The seed call with one to three values replaced, keys dropped or unknown keys added."""
    args = json.loads(json.dumps(seed))
    keys = list(spec.input.model_fields)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        key = rng.choice(keys) if keys else "x"
        if op < 0.7:
            args[key] = rng.choice(AWKWARD) if rng.random() < 0.8 else rng.randint(-(10**12), 10**12)
        elif op < 0.85:
            args.pop(key, None)
        else:
            args[rng.choice(["extra", "Timezone", "__proto__"])] = rng.choice(AWKWARD)
    return args


# A valid call of each tool, which the mutations start from.
TOOL_SEEDS = {
    "get_time": {"timezone": "Asia/Tokyo"},
    "get_current_time": {"timezone": "Europe/Warsaw"},
    "convert_time": {"source_timezone": "Europe/Berlin", "time": "12:00", "target_timezone": "UTC"},
    "compare_times": {
        "a": {"earliest": 1.0, "latest": 2.0},
        "b": {"corrected_unix": 3.0, "uncertainty_ms": 5.0},
    },
    "time_until": {"target": "2027-01-01T00:00:00Z"},
    "get_daemon_status": {},
    "get_time_with_future_uncertainty": {"future_seconds": 60},
    "shift_time": {"base": "tomorrow 9am", "duration": "P1M2DT3H", "timezone": "America/New_York"},
    "time_between": {
        "start": "2027-01-31",
        "end": "in 3 months",
        "business_days": {"country": "DE", "subdivision": "BY"},
    },
    "add_business_days": {"start": "next friday", "days": 12, "country": "US", "subdivision": "CA"},
    "date_info": {"date": "2024-02-29T12:00", "timezone": "Europe/Dublin"},
    "next_occurrences": {
        "rrule": "FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0",
        "timezone": "America/New_York",
        "count": 5,
    },
}


if __name__ == "__main__":
    main()
