"""`chronotick-stdio-server`: the ChronoTick tools over stdio, on the mcp SDK's MCPServer (stdio_app.py).

stdout carries only JSON-RPC; logs and the banner go to stderr (or nowhere). The command line is
parsed before FastMCP is imported, so `--help` and a usage error are quick, and a missing `mcp`
extra is one line.
"""

from __future__ import annotations

from chronotick_mcp.cli import checked_zone, clock_choice, common_arguments, load_app, setup_logging
from chronotick_mcp.cli import parser as make_parser

PROG = "chronotick-stdio-server"


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(PROG, "ChronoTick MCP server over stdio")
    common_arguments(parser)
    args = parser.parse_args(argv)
    zone = checked_zone(PROG, args.local_timezone)
    clock = clock_choice(PROG, args) if zone else None
    build_server = load_app(PROG, "chronotick_mcp.stdio_app", "build_stdio_server") if clock else None
    if build_server is None:
        return 2
    setup_logging(args.log_level)
    try:
        build_server(args.shm_path, local_timezone=zone, clock=clock).run(transport="stdio")
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
