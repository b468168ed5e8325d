"""`chronotick-stdio-server`: the ChronoTick tools on FastMCP over stdio.

stdout carries only JSON-RPC; logs and the banner go to stderr (or nowhere). The command line is
parsed before FastMCP is imported, so `--help` and a usage error are quick, and a missing `mcp`
extra is one line.
"""

from __future__ import annotations

import argparse
import logging
import sys

from chronotick_engine import DEFAULT_PATH, default_path

PROG = "chronotick-stdio-server"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="ChronoTick MCP server over stdio")
    parser.add_argument(
        "--shm-path",
        default=default_path(),
        help=f"segment path (default $CHRONOTICK_SHM_PATH or {DEFAULT_PATH})",
    )
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    try:
        from chronotick_mcp.app import build_server
    except ImportError as exc:
        print(f"{PROG}: needs the mcp extra: pip install 'chronotick[mcp]' ({exc})", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        build_server(args.shm_path).run(transport="stdio", show_banner=False)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
