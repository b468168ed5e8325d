"""The C reader's ct_now() against clock_gettime(CLOCK_REALTIME), both timed by the small C
program clients/c/ctcheck.c (`bench`), interleaved, on a segment a publisher keeps fresh. Prints
one JSON line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from conftest import synced_snapshot  # noqa: E402

from chronotick_engine.protocol import Publisher, lock_path  # noqa: E402


def main() -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        print(json.dumps({"benchmark": "c_reader", "skipped": "no C compiler"}))
        return
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "ctcheck"
        subprocess.run(
            [cc, "-std=c11", "-O2", "-o", str(binary), str(REPO / "clients/c/ctcheck.c"), "-lm"], check=True
        )
        path = f"/dev/shm/chronotick_bench_{uuid.uuid4().hex[:8]}"
        with Publisher(path) as pub:
            m = time.monotonic_ns()
            pub.publish(synced_snapshot(last_publish_mono_ns=m, void_after_mono_ns=m + 600 * 10**9))
            out = subprocess.run(
                [str(binary), "bench", path, "2000000"], capture_output=True, text=True, check=True
            )
        for p in (path, lock_path(path)):
            Path(p).unlink(missing_ok=True)
    result = {"benchmark": "c_reader", **json.loads(out.stdout), "targets": {"ratio_max": 2.0}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
