"""What the stdio and HTTP servers' command lines share: the segment, the local zone, logging,
and a one-line error when the `mcp` extra is missing."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from chronotick_engine import DEFAULT_PATH, ChronoTickError, default_path
from chronotick_engine.cli.common import Parser
from chronotick_engine.embedded import ClockChoice
from chronotick_engine.embedded.choice import CONFIG_ENV, DEFAULT_SYNC_WAIT_S, ENGINE_MODES, MAX_SYNC_WAIT_S
from chronotick_mcp.zones import ZoneError, local_zone_name


def sync_wait(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text[:40]!r}") from None
    if not 0 <= value <= MAX_SYNC_WAIT_S:
        raise argparse.ArgumentTypeError(f"must be 0-{MAX_SYNC_WAIT_S:g} seconds")
    return value


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
    parser.add_argument(
        "--engine",
        choices=ENGINE_MODES,
        default="auto",
        help="auto (default): a live daemon's segment when one publishes, else the engine in this process; "
        "daemon: the segment only; embedded: the in-process engine only",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the in-process engine's config: the daemon's schema, laid over the shipped default "
        f"(default: ${CONFIG_ENV}, else the shipped config: four public NTS servers)",
    )
    parser.add_argument(
        "--sync-wait",
        type=sync_wait,
        default=DEFAULT_SYNC_WAIT_S,
        metavar="SECONDS",
        help=f"how long a call may wait for a starting engine's first sync (default {DEFAULT_SYNC_WAIT_S:g})",
    )
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def clock_choice(prog: str, args: argparse.Namespace) -> ClockChoice | None:
    """The engine choice the arguments ask for, or None after a one-line error (a bad --config)."""
    try:
        return ClockChoice(args.engine, args.shm_path, args.config, args.sync_wait)
    except ChronoTickError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return None


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
