"""Inconsistent reads per 10^7 against a writer publishing flat out (chronotick_engine/testing/torn.py):
the C reader as it is and as it was (the image copied with memcpy), each built -O2 and with
ASan+UBSan, alternated; the Python client's native and pure paths; against the Python Publisher
and the C writer. Prints one JSON line per run, then a summary.

    .venv/bin/python bench/torn_reads.py [--reads 10000000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from chronotick_engine.protocol import lock_path
from chronotick_engine.testing.torn import C_DIR, old_header_dir

TORN = [sys.executable, "-m", "chronotick_engine.testing.torn"]
# The C reader test's writer before commit 63ee256: "ready" before its first publish, so the
# segment's initial image (no estimate, publish_count 0) is there while the writer is held back.
LEGACY_WRITER = """
import dataclasses, sys, time
from chronotick_engine.testing.torn import image_for, write
from chronotick_engine.protocol import Publisher, Status, Source, empty_snapshot
m = time.monotonic_ns()
base = dataclasses.replace(empty_snapshot(0, m, time.time_ns()), status=Status.SYNCHRONIZED, source=Source.CLASSICAL,
                           void_after_mono_ns=m + 3600 * 10**9)
with Publisher(sys.argv[1]) as pub:
    print("ready", flush=True)
    time.sleep(float(sys.argv[2]))
    k = 0
    while True:
        k += 1
        pub.publish(image_for(base, k))
"""
STALL_S = 0.05  # a writer held back this long after "ready": a loaded CI machine's worst
BUILDS = {
    "O2": ["-O2"],
    "sanitizers": [
        "-O1",
        "-g",
        "-fno-omit-frame-pointer",
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all",
    ],
}


def build(cc: str, source_dir: Path, flags: list[str], out: Path) -> Path:
    subprocess.run([cc, "-std=c11", *flags, "-o", str(out), str(source_dir / "ctcheck.c"), "-lm"], check=True)
    return out


def run_reader(cmd: list[str], path: str, native_writer: bool, writer_cmd: list[str] | None = None) -> dict:
    writer = subprocess.Popen(
        writer_cmd or [*TORN, "writer", path, "1800", *(["--native"] if native_writer else [])],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        return json.loads(out.stdout.splitlines()[-1])
    finally:
        writer.kill()
        writer.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reads", type=int, default=10_000_000)
    p.add_argument("--pure-reads", type=int, default=1_000_000, help="the pure-Python path is ~10x slower")
    args = p.parse_args()
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        print(json.dumps({"benchmark": "torn_reads", "skipped": "no C compiler"}))
        return
    tmp = Path(tempfile.mkdtemp(prefix="chronotick-torn-"))
    old = old_header_dir(tmp / "old")
    binaries = {}
    for name, flags in BUILDS.items():
        binaries[f"c-{name}"] = build(cc, C_DIR, flags, tmp / f"ctcheck-{name}")
        binaries[f"c-memcpy-{name}"] = build(cc, old, flags, tmp / f"ctcheck-memcpy-{name}")
    totals: dict[str, dict[str, int]] = {}
    stalled: dict[str, float] = {}
    path = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
    try:
        for writer in ("python", "c"):
            readers = [(name, [str(b), "torn", path, str(args.reads)]) for name, b in binaries.items()]
            readers += [
                ("python-native", [*TORN, "read", path, str(args.reads), "--native"]),
                ("python-pure", [*TORN, "read", path, str(args.pure_reads)]),
            ]
            for reader, cmd in readers:
                r = run_reader(cmd, path, writer == "c")
                line = {"benchmark": "torn_reads", "writer": writer, "reader": reader, **r}
                print(json.dumps(line), flush=True)
                t = totals.setdefault(reader, {"reads": 0, "inconsistent": 0})
                t["reads"] += r["reads"]
                t["inconsistent"] += r["inconsistent"]
        # The defect CI met: readers that start while the writer is held back after "ready".
        for writer, wcmd in (
            ("stalled-legacy", [sys.executable, "-c", LEGACY_WRITER, path, str(STALL_S)]),
            ("stalled-now", [*TORN, "writer", path, "1800", "--stall", str(STALL_S)]),
        ):
            for reader in ("c-O2", "c-memcpy-O2"):
                Path(path).unlink(missing_ok=True)
                r = run_reader([str(binaries[reader]), "torn", path, "1000000"], path, False, wcmd)
                print(
                    json.dumps({"benchmark": "torn_reads", "writer": writer, "reader": reader, **r}),
                    flush=True,
                )
                stalled[f"{writer}/{reader}"] = round(r["inconsistent"] * 1e7 / r["reads"], 1)
    finally:
        for f in (path, lock_path(path)):
            Path(f).unlink(missing_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {
        "benchmark": "torn_reads_summary",
        "inconsistent_per_1e7": {
            k: round(v["inconsistent"] * 1e7 / v["reads"], 3) for k, v in totals.items()
        },
        "reads": {k: v["reads"] for k, v in totals.items()},
        "stalled_writer_inconsistent_per_1e7": stalled,
        "targets": {"inconsistent_per_1e7": 0},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
