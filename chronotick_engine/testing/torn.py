"""Torn-read checks: a writer publishing flat out, readers that count accepted snapshots mixed from
two publishes. Used by tests/test_torn_reads.py, tests/test_c_reader.py and bench/torn_reads.py.

Every image the writer publishes keeps one invariant, so a mix of two is visible:
anchor_real_ns = anchor_mono_ns + k, offset_s = offset_unc_s = k * 1e-9 and publish_count = k,
with anchor_mono_ns, drift and its bounds fixed. clients/c/ctcheck.c `torn` checks the same one.

    python -m chronotick_engine.testing.torn writer PATH SECONDS [--native] [--stall S]
    python -m chronotick_engine.testing.torn read PATH N (--pure | --native)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from pathlib import Path

import numpy as np

from chronotick_engine.protocol.codec import Snapshot, Source, Status, empty_snapshot
from chronotick_engine.protocol.native_heartbeat import NativeHeartbeat
from chronotick_engine.protocol.reader import SegmentReader
from chronotick_engine.protocol.writer import Publisher

FIRST_K = 10_000  # above the readers' 1 us floor, so the uncertainty carries k too
C_DIR = Path(__file__).resolve().parent.parent.parent / "clients" / "c"


def image_for(base: Snapshot, k: int) -> Snapshot:
    return dataclasses.replace(
        base,
        publish_count=k,
        sample_count=k,
        anchor_real_ns=base.anchor_mono_ns + k,
        offset_s=k * 1e-9,
        offset_unc_s=k * 1e-9,
        last_publish_mono_ns=time.monotonic_ns(),
    )


def write(path: str, seconds: float, native: bool, stall: float = 0.0) -> int:
    """Publish flat out for `seconds`; with `native`, through the C writer (chronotick_writer.h).
    Prints "ready" once the segment holds an image that keeps the invariant, then waits `stall`
    seconds (a writer starved on a loaded machine). Returns the publishes made.

    The first image must keep the invariant too: the test writer before commit 63ee256 printed
    "ready" before its first publish, and readers that started while a loaded CI machine held it
    back counted the segment's initial image (no estimate, publish_count 0) as a torn one."""
    m = time.monotonic_ns()
    base = dataclasses.replace(
        empty_snapshot(0, m, time.time_ns()),
        status=Status.SYNCHRONIZED,
        source=Source.CLASSICAL,
        confidence=0.95,
        void_after_mono_ns=m + 3600 * 10**9,
        last_ntp_mono_ns=m,
        publish_rate_hz=100.0,
    )
    with Publisher(path) as pub:
        heart = NativeHeartbeat(pub, 10**9, 0) if native else None  # its writes, not its thread
        k = FIRST_K
        pub.publish(image_for(base, k))
        print("ready", flush=True)
        time.sleep(stall)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for _ in range(100):
                k += 1
                pub.publish(image_for(base, k))
        if heart is not None:
            heart.stop()
    return k - FIRST_K


def consistent(s: Snapshot) -> bool:
    k = s.publish_count
    return (
        s.anchor_real_ns - s.anchor_mono_ns == k
        and s.offset_s == k * 1e-9
        and s.offset_unc_s == float(np.float32(k * 1e-9))
        and s.sample_count == k
    )


def read_pure(path: str, n: int) -> dict:
    reader = SegmentReader(path)
    bad = 0
    for _ in range(n):
        if not consistent(reader.read()):
            bad += 1
    return {"reads": n, "accepted": n, "inconsistent": bad, "torn_retries": reader.torn_retries}


def read_native(path: str, n: int) -> dict:
    """The Python client's C path (chronotick_engine._native): at_ns(anchor) is anchor + 2k and its
    uncertainty the k of offset_unc_s, both from one snapshot, or the snapshot was mixed."""
    from chronotick_engine.client import ChronoTickClient

    client = ChronoTickClient(path)
    if client._native is None:
        raise SystemExit("the native reader is not built (or CHRONOTICK_PURE_PYTHON=1)")
    at = client._native.at_ns
    anchor = SegmentReader(path).read().anchor_mono_ns
    bad = 0
    for _ in range(n):
        corrected, unc = at(anchor)
        two_k = corrected - anchor
        k = two_k // 2
        if two_k % 2 or unc != max(1000, round(float(np.float32(k * 1e-9)) * 1e9)):
            bad += 1
    return {"reads": n, "accepted": n, "inconsistent": bad}


def old_header_dir(out: Path) -> Path:
    """ctcheck.c beside the reader as it was before the fix: the image copied with memcpy."""
    header = (C_DIR / "chronotick.h").read_text()
    fixed = re.search(r"static inline void ct__copy_image\(.*?\n}\n", header, re.S)
    assert fixed is not None, "ct__copy_image not found in chronotick.h"
    old = (
        "static inline void ct__copy_image(unsigned char *dst, const unsigned char *map) {\n"
        "    memcpy(dst, map, CT_SEGMENT_SIZE);\n}\n"
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "chronotick.h").write_text(header.replace(fixed.group(0), old))
    (out / "ctcheck.c").write_text((C_DIR / "ctcheck.c").read_text())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description="torn-read checks")
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("writer")
    w.add_argument("path")
    w.add_argument("seconds", type=float)
    w.add_argument("--native", action="store_true")
    w.add_argument("--stall", type=float, default=0.0, help="seconds between ready and the publish loop")
    r = sub.add_parser("read")
    r.add_argument("path")
    r.add_argument("n", type=int)
    r.add_argument("--native", action="store_true")
    args = p.parse_args()
    if args.cmd == "writer":
        write(args.path, args.seconds, args.native, args.stall)
    else:
        out = (read_native if args.native else read_pure)(args.path, args.n)
        print(json.dumps(out))
        raise SystemExit(1 if out["inconsistent"] else 0)


if __name__ == "__main__":
    main()
