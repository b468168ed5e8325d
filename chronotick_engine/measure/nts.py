"""One NTS server: its keys and cookies, kept across exchanges, and the authenticated exchange.

A session is built by NTS-KE and used until its cookies run out or the server answers with an NTS
NAK (its keys changed); then the next exchange runs KE again. Failed key exchanges back off
exponentially. Nothing here ever sends plain NTP: a server configured for NTS is measured with
NTS or not at all.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from chronotick_engine.measure.ntp import (
    DEFAULT_NTP_PORT,
    SYSTEM_CLOCK,
    ClockSource,
    Exchange,
    Rejected,
    new_cookie,
    parse_reply,
    transact,
)
from chronotick_engine.measure.ntp import build_request as ntp_header
from chronotick_engine.measure.nts_fields import UID_BYTES, FieldError, build_request, is_nak, verify_reply
from chronotick_engine.measure.nts_ke import KeResult, key_exchange
from chronotick_engine.measure.nts_records import DEFAULT_KE_PORT, MAX_COOKIES, KeError

KE_BACKOFF_FIRST_S = 2.0
KE_BACKOFF_MAX_S = 300.0


@dataclass(frozen=True, slots=True)
class NtsState:
    """A session's state for the status sidecar."""

    cookies: int
    key_exchanges: int
    last_ke_unix_s: float | None
    last_ke_ms: float | None
    ntp_address: str | None


class NtsSession:
    """The NTS state of one configured server: `query` has the signature of ntp.query's callers."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int | None = None,
        ke_port: int = DEFAULT_KE_PORT,
        ca_file: str | None = None,
    ):
        self.name = name
        self.host = host
        self.port = port
        self.ke_port = ke_port
        self.ca_file = ca_file
        self._lock = threading.Lock()
        self._c2s: AESSIV | None = None
        self._s2c: AESSIV | None = None
        self._cookies: deque[bytes] = deque(maxlen=MAX_COOKIES)
        self._ntp: tuple[str, int] | None = None
        self._ke_failures = 0
        self._ke_retry_at = 0.0
        self._last_ke_error = ""
        self.key_exchanges = 0
        self.last_ke_unix_s: float | None = None
        self.last_ke_ms: float | None = None

    def state(self) -> NtsState:
        with self._lock:
            ntp = None if self._ntp is None else f"{self._ntp[0]}:{self._ntp[1]}"
            return NtsState(len(self._cookies), self.key_exchanges, self.last_ke_unix_s, self.last_ke_ms, ntp)

    def forget(self) -> None:
        """Drop keys and cookies: the next exchange starts with a key exchange."""
        with self._lock:
            self._c2s = self._s2c = None
            self._cookies.clear()

    def _install(self, ke: KeResult) -> None:
        self._c2s, self._s2c = AESSIV(ke.c2s), AESSIV(ke.s2c)
        self._cookies.clear()
        self._cookies.extend(ke.cookies)
        self._ntp = (ke.ntp_host, ke.ntp_port or self.port or DEFAULT_NTP_PORT)
        self._ke_failures = 0
        self.key_exchanges += 1
        self.last_ke_unix_s = time.time()
        self.last_ke_ms = round(ke.duration_s * 1e3, 3)

    def _ensure_keys(self, timeout: float) -> None:
        # Runs on the measurement thread only (one exchange per server at a time), and outside
        # the lock: a slow KE must not hold up status readers.
        if self._c2s is not None and self._cookies:
            return
        now = time.monotonic()
        if now < self._ke_retry_at:
            wait = self._ke_retry_at - now
            raise Rejected("nts_ke_failed", f"{self._last_ke_error} (next key exchange in {wait:.0f} s)")
        try:
            ke = key_exchange(self.host, self.ke_port, self.ca_file, timeout)
        except KeError as exc:
            self._ke_failures += 1
            backoff = min(KE_BACKOFF_MAX_S, KE_BACKOFF_FIRST_S * 2 ** (self._ke_failures - 1))
            self._ke_retry_at = time.monotonic() + backoff
            self._last_ke_error = f"{self.host}:{self.ke_port}: {exc}"
            raise Rejected("nts_ke_failed", self._last_ke_error) from None
        with self._lock:
            self._install(ke)

    def query(self, timeout: float, max_delay: float, clock: ClockSource = SYSTEM_CLOCK) -> Exchange:
        """One authenticated exchange (running KE first when needed). Raises Rejected with an
        `nts_*` reason, or TimeoutError/OSError; never returns an unauthenticated exchange."""
        self._ensure_keys(timeout)
        with self._lock:
            assert self._c2s is not None and self._s2c is not None and self._ntp is not None
            cookie = self._cookies.popleft()
            c2s, s2c, (host, port) = self._c2s, self._s2c, self._ntp
            # Ask for as many new cookies as bring the jar back to eight.
            placeholders = MAX_COOKIES - 1 - len(self._cookies)
        uid = os.urandom(UID_BYTES)
        stamp = new_cookie()
        request = build_request(ntp_header(stamp), uid, cookie, placeholders, c2s)
        tr = transact(host, port, request, stamp, timeout, clock)
        if is_nak(tr.data, uid):
            self.forget()
            raise Rejected("nts_nak", "server refused our cookie (its keys changed): key exchange again")
        try:
            fresh = verify_reply(tr.data, uid, s2c)
        except FieldError as exc:
            raise Rejected(exc.reason, str(exc)) from None
        with self._lock:  # before the NTP checks: an authentic kiss-of-death still brings cookies
            if self._s2c is s2c:  # not re-keyed meanwhile: these cookies belong to this session
                self._cookies.extend(fresh[: MAX_COOKIES - len(self._cookies)])
        fields = parse_reply(tr.data, stamp, tr.t1_real, tr.t4_real, max_delay)
        return tr.exchange(self.name, fields, authenticated=True)
