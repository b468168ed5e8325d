"""Streamable HTTP sessions that one client cannot exhaust.

The mcp SDK keeps up to 10,000 sessions, each idle for up to 30 minutes, and refuses every new
client with 503 once they are all taken: a loop of `initialize` requests locks everyone out. Here
sessions expire after a few idle minutes, and at the cap the least recently used idle session is
closed to admit the new one, so memory stays bounded (about 40 KB a session) and a flood only ever
evicts the flood's own idle sessions while a working client, using its session, stays recent.

FastMCP 4 builds its session manager inside its app's lifespan by class name, so the subclass is
installed there for this process (install()); tests/test_security.py holds the behaviour.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import fastmcp.server.http as fastmcp_http
from fastmcp.server.http import FastMCPStreamableHTTPSessionManager

log = logging.getLogger("chronotick.http")

_SESSION_HEADER = b"mcp-session-id"


class BoundedSessionManager(FastMCPStreamableHTTPSessionManager):
    max_sessions_cap = 1000  # install() sets it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Admission is decided in _admit_session: an idle session makes room, never a 503 to all.
        self.max_sessions = self.max_sessions_cap
        self._recent: OrderedDict[str, int] = OrderedDict()  # session id -> requests in flight

    async def handle_request(self, scope: Any, receive: Any, send: Any) -> None:
        sid = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == _SESSION_HEADER), None)
        if sid is None or sid not in self._recent:
            await super().handle_request(scope, receive, send)
            return
        self._recent[sid] += 1
        self._recent.move_to_end(sid)
        try:
            await super().handle_request(scope, receive, send)
        finally:
            if sid in self._recent:
                self._recent[sid] -= 1

    def _admit_session(self, requestor: Any) -> Any:
        live = self._server_instances
        for sid in [s for s in self._recent if s not in live]:  # ended: idle expiry, DELETE, crash
            del self._recent[sid]
        while len(live) >= self.max_sessions_cap:
            idle = next((s for s, busy in self._recent.items() if busy == 0), None)
            if idle is None:
                log.warning("all %d sessions are busy; refusing a new one", self.max_sessions_cap)
                return None
            self._evict(idle)
        transport = super()._admit_session(requestor)
        if transport is not None:
            self._recent[transport.mcp_session_id] = 0
        return transport

    def _evict(self, sid: str) -> None:
        """Forget the session now (its id answers 404 from here on) and close it in the background."""
        del self._recent[sid]
        transport = self._server_instances.pop(sid, None)
        self._session_owners.pop(sid, None)
        log.debug("closing idle session %s to admit a new one", sid[:16])
        if transport is not None and self._task_group is not None:
            self._task_group.start_soon(transport.terminate)


def install(max_sessions: int) -> None:
    """Use BoundedSessionManager, capped at `max_sessions`, for the HTTP apps this process builds."""
    BoundedSessionManager.max_sessions_cap = max_sessions
    fastmcp_http.FastMCPStreamableHTTPSessionManager = BoundedSessionManager
