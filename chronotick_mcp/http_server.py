"""`chronotick-http-server`: the ChronoTick tools over Streamable HTTP at /mcp.

For agents in other containers or pods, and MCP clients that connect by URL. Who may call it:
- a web page may not: FastMCP's Host/Origin guard is always on, so a foreign Origin gets 403 and a
  foreign Host 421 (DNS rebinding); --allowed-host/--allowed-origin widen it for a reverse proxy;
- with a token (--token-file, or $CHRONOTICK_MCP_TOKEN), FastMCP's own bearer-token verifier gives
  every request without it 401; a non-loopback address needs one;
- sessions expire after --session-idle-timeout and, at --max-sessions, the least recently used idle
  one makes room (http_sessions.py), so no client can lock the others out.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys
from pathlib import Path

from chronotick_mcp.cli import checked_zone, clock_choice, common_arguments, load_app, setup_logging
from chronotick_mcp.cli import parser as make_parser

PROG = "chronotick-http-server"
TOKEN_ENV = "CHRONOTICK_MCP_TOKEN"
DEFAULT_IDLE_S = 300.0  # the SDK's 30 minutes let a flood hold memory for half an hour
DEFAULT_MAX_SESSIONS = 1000  # about 40 MB of sessions at most


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: str | None) -> tuple[str | None, str | None]:
    """(token, error): from the file, else the environment; an empty or unreadable file is an error."""
    if path is None:
        return (os.environ.get(TOKEN_ENV) or "").strip() or None, None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        return None, f"--token-file {path}: {exc.strerror or exc}"
    if not token or any(c.isspace() for c in token):
        return None, f"--token-file {path}: must hold one token, with no spaces"
    return token, None


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(PROG, "ChronoTick MCP server over Streamable HTTP (/mcp)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument(
        "--token-file", metavar="FILE", help=f"file holding the bearer token (else ${TOKEN_ENV})"
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        metavar="HOST",
        help="a Host header to accept besides loopback and the bound address (repeatable; "
        "a reverse proxy's name, or '*' behind a token)",
    )
    parser.add_argument(
        "--allowed-origin",
        action="append",
        metavar="ORIGIN",
        help="a browser Origin to accept besides the server's own (repeatable), e.g. https://app.example",
    )
    parser.add_argument(
        "--session-idle-timeout",
        type=float,
        default=DEFAULT_IDLE_S,
        metavar="SECONDS",
        help=f"close a session idle this long (default {DEFAULT_IDLE_S:g})",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULT_MAX_SESSIONS,
        help=f"sessions kept at most; the least recently used idle one makes room (default {DEFAULT_MAX_SESSIONS})",
    )
    common_arguments(parser)
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port must be 1-65535")
    if not 1 <= args.session_idle_timeout <= 86400:
        parser.error("--session-idle-timeout must be 1-86400 seconds")
    if not 1 <= args.max_sessions <= 100_000:
        parser.error("--max-sessions must be 1-100000")
    token, error = read_token(args.token_file)
    if error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    if token is None and not is_loopback(args.host):
        print(
            f"{PROG}: error: refusing to serve {args.host} without a token: "
            f"give --token-file FILE or set {TOKEN_ENV} (or bind 127.0.0.1)",
            file=sys.stderr,
        )
        return 2
    zone = checked_zone(PROG, args.local_timezone)
    clock = clock_choice(PROG, args) if zone else None
    build_server = load_app(PROG) if clock else None
    if build_server is None:
        return 2
    auth = None
    if token is not None:
        from fastmcp.server.auth.providers.jwt import StaticTokenVerifier

        auth = StaticTokenVerifier(tokens={token: {"client_id": "chronotick-http", "scopes": []}})
    try:
        sock = listen(args.host, args.port)
    except OSError as exc:
        why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound: {exc.strerror or exc}"
        print(f"{PROG}: error: port {args.port} on {args.host} {why}", file=sys.stderr)
        return 2
    setup_logging(args.log_level)
    quiet_disconnects()
    import fastmcp
    from starlette.middleware import Middleware

    from chronotick_mcp import http_sessions
    from chronotick_mcp.http_auth import ExplainUnauthorized

    http_sessions.install(args.max_sessions)
    fastmcp.settings.http_session_idle_timeout = args.session_idle_timeout
    clock.start()  # the engine that will serve starts now, in the background
    try:
        build_server(args.shm_path, local_timezone=zone, auth=auth, clock=clock).run(
            transport="http",
            host=args.host,
            port=args.port,
            show_banner=False,
            sockets=[sock],
            host_origin_protection=True,
            allowed_hosts=args.allowed_host,
            allowed_origins=args.allowed_origin,
            log_level=args.log_level.lower(),
            middleware=[Middleware(ExplainUnauthorized)],
        )
    except KeyboardInterrupt:
        pass
    return 0


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts, so that a port in use is one line."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def quiet_disconnects() -> None:
    """A client that goes away mid-stream is routine for a server: the SDK and uvicorn log each one
    as an ERROR with a traceback. Those loggers' errors go to debug level instead, once each."""
    import logging

    class _Demote(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.levelno >= logging.ERROR and record.exc_info and _is_disconnect(record.exc_info[1]):
                return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
            return True

    for name in ("mcp.server.streamable_http", "uvicorn.error", "sse_starlette.sse"):
        logging.getLogger(name).addFilter(_Demote())


def _is_disconnect(exc: BaseException | None) -> bool:
    names = {"ClientDisconnect", "ClosedResourceError", "BrokenResourceError", "EndOfStream"}
    while exc is not None:
        if type(exc).__name__ in names or isinstance(exc, ConnectionError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


if __name__ == "__main__":
    raise SystemExit(main())
