"""What the stdio and HTTP servers' command lines share: the segment, the local zone, logging,
and a one-line error when the `mcp` extra is missing."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from chronotick_engine import DEFAULT_PATH, default_path
from chronotick_engine.cli.common import Parser
from chronotick_mcp.zones import ZoneError, local_zone_name


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The engine's commands' parser: a usage error is one line and exit 2."""
    return Parser(prog=prog, description=description)


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shm-path",
        default=default_path(),
        help=f"segment path (default $CHRONOTICK_SHM_PATH or {DEFAULT_PATH})",
    )
    parser.add_argument(
        "--local-timezone",
        metavar="ZONE",
        help="IANA zone get_time uses when none is asked for (default: $TZ, then the system zone, then UTC)",
    )
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def checked_zone(prog: str, name: str | None) -> str | None:
    """The --local-timezone value, or None after printing why it is unusable."""
    try:
        return local_zone_name(name)
    except ZoneError as exc:
        print(f"{prog}: error: --local-timezone: {exc}", file=sys.stderr)
        return None


def load_app(prog: str, module: str = "chronotick_mcp.app", factory: str = "build_server"):
    """The server factory `module.factory`, or None after a one-line error naming the extra."""
    try:
        return getattr(importlib.import_module(module), factory)
    except ImportError as exc:
        print(f"{prog}: needs the mcp extra: pip install 'chronotick[mcp]' ({exc})", file=sys.stderr)
        return None


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
