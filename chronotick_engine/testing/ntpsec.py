"""A second, independent NTS server on loopback: Debian's ntpsec ntpd in a private directory.

ntpsec cannot move its ports: NTS-KE is TCP 4460 and NTP is UDP 123 on every interface, so only
one can run at a time and only as root. `disable ntp` leaves the host clock alone; orphan mode
makes it serve its local clock at stratum 5 with leap indicator 0 (a local refclock would answer
"unsynchronised", which a validating client rightly refuses). `make system-deps` unpacks the
Debian package into .tools/ntpsec, beside chrony rather than in place of it (the packages conflict).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from chronotick_engine.testing.certs import ServerCert
from chronotick_engine.testing.localntp import stop_process

NTS_KE_PORT = 4460
NTP_PORT = 123


def ports_free() -> bool:
    """Whether this process may bind ntpsec's fixed ports (root, and nobody else on them)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
            u.bind(("127.0.0.1", NTP_PORT))
            t.bind(("127.0.0.1", NTS_KE_PORT))
    except OSError:
        return False
    return True


class LocalNtpsec:
    def __init__(self, binary: str, cert: ServerCert):
        self.binary = binary
        self.cert = cert
        self.dir = Path(tempfile.mkdtemp(prefix="chronotick-ntpsec-"))
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> LocalNtpsec:
        conf = self.dir / "ntp.conf"
        conf.write_text(
            "\n".join(
                [
                    "nts enable",
                    f"nts cert {self.cert.cert_file}",
                    f"nts key {self.cert.key_file}",
                    f"nts cookie {self.dir}/nts-keys",
                    "disable ntp",
                    "tos orphan 5 orphanwait 1",
                    f"driftfile {self.dir}/drift",
                    f"statsdir {self.dir}/",
                ]
            )
            + "\n"
        )
        log = self.dir / "ntpd.log"
        self.proc = subprocess.Popen(
            [self.binary, "-n", "-c", str(conf), "-p", str(self.dir / "ntpd.pid"), "-l", str(log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = log.read_text()[-500:] if log.exists() else ""
                raise RuntimeError(f"ntpd exited: {tail}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", NTS_KE_PORT), 0.2):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ntpsec did not listen on {NTS_KE_PORT} within {timeout} s")

    def log_tail(self) -> str:
        log = self.dir / "ntpd.log"
        return log.read_text()[-2000:] if log.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalNtpsec:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
