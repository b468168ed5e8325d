"""Load for the many-node test's load mode (tests/multinode.py --load): CPU hogs on every core, and a
thread inside each daemon that holds the GIL in bursts.

The GIL thread is planted with a sitecustomize module on the daemon's PYTHONPATH, so the daemon's
own code is untouched: `sum(range(n))` is one C call, during which no other Python thread of the
process runs (the interpreter drops the GIL only between bytecodes).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

GIL_ENV = "CHRONOTICK_TEST_GIL_BURSTS"  # "HELD_MS/PERIOD_MS"
DEFAULT_BURSTS = "20/100"  # the GIL held 20 ms in every 100

SITECUSTOMIZE = """
import os, threading, time

def _hog(spec):
    held_ms, period_ms = (float(x) for x in spec.split("/"))
    t0 = time.perf_counter(); sum(range(200_000)); per_ms = 200_000 / ((time.perf_counter() - t0) * 1e3)
    n = int(per_ms * held_ms)
    while True:
        time.sleep((period_ms - held_ms) / 1e3)
        sum(range(n))  # one C call: the GIL is held throughout

_spec = os.environ.get("{env}")
if _spec:
    threading.Thread(target=_hog, args=(_spec,), name="gil-hog", daemon=True).start()
"""


def gil_env(workdir: Path, bursts: str = DEFAULT_BURSTS) -> dict[str, str]:
    """The environment for a daemon that gets the GIL-holding thread."""
    site = workdir / "gilhog"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(env=GIL_ENV))
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, GIL_ENV: bursts}


@contextlib.contextmanager
def cpu_hogs(count: int | None = None) -> Iterator[list[subprocess.Popen]]:
    """A busy process per core (at normal priority) until the block ends."""
    n = count or os.cpu_count() or 2
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield hogs
    finally:
        for h in hogs:
            h.kill()
            h.wait()
