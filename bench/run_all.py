"""Run every benchmark; each prints JSON lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in (
    "client_read.py",
    "c_reader.py",
    "daemon_load.py",
    "torn_reads.py",
    "timestamps.py",
    "multinode_load.py",
    "mcp_roundtrip.py",
    "replay.py",
):
    subprocess.run([sys.executable, str(HERE / script)], check=False)
