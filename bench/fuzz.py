"""Mutation fuzzing of every parser that takes outside input; one JSON line per target.

Targets: the NTP reply parser, the NTS-KE record parser, the NTS extension-field checks (a sealed
reply under the right key, mutated), the segment decoder, the config loader (YAML text) and the
MCP tool argument checks. Each execution feeds a seeded mutation of a valid input (bit flips, byte
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
import time
from collections.abc import Callable

from chronotick_engine.config import default_config_text, parse_config
from chronotick_engine.errors import ConfigError, SegmentError
from chronotick_engine.measure import nts_fields, nts_records
from chronotick_engine.measure.ntp import Rejected, build_request, ns_to_ntp, parse_reply
from chronotick_engine.protocol import Source, Status, decode, empty_snapshot, encode


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

    no_daemon = ClockChoice("daemon", "/nonexistent/chronotick_shm")

    def mcp_args(data: bytes) -> object:
        """Any tool (the first byte picks it) with arguments from the rest: JSON when it parses, else
        the text in every field. Without a daemon, so only the argument checks decide."""
        from chronotick_mcp.tools import TOOLS, ToolContext

        spec = TOOLS[data[0] % len(TOOLS)] if data else TOOLS[0]
        text = data[1:].decode("utf-8", "replace")
        try:
            args = json.loads(text)
        except ValueError:
            args = dict.fromkeys(spec.input.model_fields, text)
        if not isinstance(args, dict):
            args = {"value": args}
        result = spec.call(ToolContext(no_daemon, "UTC"), args)
        # The result must fit its own output schema: finite numbers (JSON has no NaN or inf, which
        # a client would receive as null) and every field of the result model.
        spec.result.model_validate_json(json.dumps(result.model_dump(mode="json"), allow_nan=False))
        return result

    from chronotick_mcp.tools import TOOLS, ToolFailure

    for name, fn, expected, seed, count in (
        ("ntp_reply_parser", ntp, Rejected, ntp_reply_seed(cookie, t1), n),
        ("nts_ke_record_parser", ke_records, nts_records.KeError, ke_response_seed(), n),
        ("nts_extension_fields", nts_reply, nts_fields.FieldError, sealed, n),
        ("segment_decoder", segment, SegmentError, segment_seed(), n),
        ("config_loader", config, ConfigError, default_config_text().encode(), max(1, n // 10)),
        (
            "mcp_tool_arguments",
            mcp_args,
            ToolFailure,
            bytes([[t.name for t in TOOLS].index("convert_time")])
            + b'{"source_timezone": "Europe/Berlin", "time": "12:00", "target_timezone": "UTC"}',
            n,
        ),
    ):
        print(json.dumps(run(name, fn, expected, seed, count, rng)), flush=True)


if __name__ == "__main__":
    main()
