"""`chronotick-http-server`: the ChronoTick tools over Streamable HTTP at /mcp.

For agents in other containers or pods, and MCP clients that connect by URL. Auth is FastMCP's own
bearer-token verifier: with a token (--token-file, or $CHRONOTICK_MCP_TOKEN) every request without
it gets 401. Without one the server binds only a loopback address.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

from chronotick_mcp.cli import checked_zone, clock_choice, common_arguments, load_app, setup_logging
from chronotick_mcp.cli import parser as make_parser

PROG = "chronotick-http-server"
TOKEN_ENV = "CHRONOTICK_MCP_TOKEN"


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
    common_arguments(parser)
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port must be 1-65535")
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
    setup_logging(args.log_level)
    clock.start()  # the engine that will serve starts now, in the background
    try:
        build_server(args.shm_path, local_timezone=zone, auth=auth, clock=clock).run(
            transport="http", host=args.host, port=args.port, show_banner=False
        )
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"{PROG}: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
