"""A real NTP server on loopback: Debian's chronyd in a private directory, for the demo and tests.

`-x` leaves the system clock alone, `-d` keeps it in the foreground, `-u root` avoids permission
failures on its pid and drift files. It serves its local clock at stratum 8.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chronotick_engine.measure.ntp import query
from chronotick_engine.testing.certs import ServerCert


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL if it has not gone within 5 s."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalChrony:
    """chronyd serving NTP on bind:port, in this network namespace or in `netns`."""

    def __init__(
        self,
        port: int | None = None,
        workdir: str | None = None,
        bind: str = "127.0.0.1",
        allow: str = "127.0.0.1",
        netns: str | None = None,
        nts: ServerCert | None = None,
        nts_port: int | None = None,
    ):
        self.port = port or free_udp_port()
        self.nts = nts
        self.nts_port = (nts_port or free_tcp_port()) if nts else None
        self.bind = bind
        self.allow = allow
        self.netns = netns
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="chronotick-chrony-"))
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.bind}:{self.port}"

    def _prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns] if self.netns else []

    def _answers(self) -> bool:
        if self.netns is None:
            with contextlib.suppress(Exception):
                query(self.bind, self.port, 0.2, 1.0)
                return True
            return False
        probe = (
            f"from chronotick_engine.measure.ntp import query; query({self.bind!r}, {self.port}, 0.2, 1.0)"
        )
        return (
            subprocess.run([*self._prefix(), sys.executable, "-c", probe], capture_output=True).returncode
            == 0
        )

    def _nts_lines(self) -> list[str]:
        if self.nts is None:
            return []
        dump = self.dir / "ntsdump"  # chronyd keeps its server keys here; it must exist
        dump.mkdir(exist_ok=True)
        return [
            f"ntsport {self.nts_port}",
            f"ntsserverkey {self.nts.key_file}",
            f"ntsservercert {self.nts.cert_file}",
            f"ntsdumpdir {dump}",
        ]

    def fresh_server_keys(self) -> None:
        """Forget the NTS server keys chronyd saved, so that its next start makes new ones (and
        every cookie issued before is refused)."""
        shutil.rmtree(self.dir / "ntsdump", ignore_errors=True)

    def _nts_listening(self) -> bool:
        if self.nts_port is None:
            return True
        with contextlib.suppress(OSError), socket.create_connection((self.bind, self.nts_port), 0.2):
            return True
        return False

    def start(self, timeout: float = 10.0) -> LocalChrony:
        chronyd = shutil.which("chronyd") or "/usr/sbin/chronyd"
        if not Path(chronyd).exists():
            raise RuntimeError("chronyd not found: install Debian's chrony package (make system-deps)")
        conf = self.dir / "chrony.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    f"bindaddress {self.bind}",
                    f"allow {self.allow}",
                    "local stratum 8",
                    "cmdport 0",
                    f"driftfile {self.dir}/drift",
                    f"pidfile {self.dir}/chronyd.pid",
                    *self._nts_lines(),
                ]
            )
            + "\n"
        )
        log = open(self.dir / "chronyd.log", "w")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [*self._prefix(), chronyd, "-d", "-x", "-u", "root", "-f", str(conf)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chronyd exited: {(self.dir / 'chronyd.log').read_text()[-500:]}")
            if self._answers() and self._nts_listening():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"chronyd did not answer on {self.address} within {timeout} s")

    def _terminate(self) -> None:
        stop_process(self.proc)

    def restart(self, fresh_keys: bool = False) -> LocalChrony:
        """Stop and start again on the same ports; with fresh_keys, under new NTS server keys."""
        self._terminate()
        if fresh_keys:
            self.fresh_server_keys()
        return self.start()

    def stop(self) -> None:
        self._terminate()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalChrony:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalChronyClient:
    """chronyd as a client of loopback servers, leaving the system clock alone (-x), with its
    command socket in a private directory: the host chronyd that the chrony source reads."""

    def __init__(self, servers: list[tuple[str, int]], poll: int = -2):
        self.servers = servers
        self.poll = poll  # log2 seconds: -2 polls four times a second
        self.dir = Path(tempfile.mkdtemp(prefix="chronotick-chronyc-"))
        self.dir.chmod(0o700)  # chronyd refuses a command socket in a directory others can enter
        self.socket = str(self.dir / "chronyd.sock")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> LocalChronyClient:
        chronyd = shutil.which("chronyd") or "/usr/sbin/chronyd"
        lines = [
            f"server {host} port {port} iburst minpoll {self.poll} maxpoll {self.poll}"
            for host, port in self.servers
        ]
        lines += [
            "port 0",
            f"bindcmdaddress {self.socket}",
            "cmdport 0",
            f"driftfile {self.dir}/drift",
            f"pidfile {self.dir}/chronyd.pid",
        ]
        conf = self.dir / "chrony.conf"
        conf.write_text("\n".join(lines) + "\n")
        log = open(self.dir / "chronyd.log", "w")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [chronyd, "-d", "-x", "-u", "root", "-f", str(conf)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chronyd exited: {(self.dir / 'chronyd.log').read_text()[-500:]}")
            if Path(self.socket).exists():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"chronyd made no command socket at {self.socket} within {timeout} s")

    def stop(self) -> None:
        stop_process(self.proc)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalChronyClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
