"""`chronotick-daemon`: load config, own the segment, measure and publish until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from chronotick_engine.cli.common import EXIT_OK, EXIT_USAGE, Parser, run_entry
from chronotick_engine.config import (
    ChronoTickConfig,
    config_yaml,
    default_config_text,
    load_config,
    parse_config,
)
from chronotick_engine.errors import ChronoTickError, ConfigError

EXIT_RUNTIME = 1


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="chronotick-daemon", description="Measure NTP, model the clock, publish to shared memory."
    )
    p.add_argument("--config", help="YAML config file (default: the shipped default)")
    p.add_argument("--freq", type=float, help="publish rate in Hz, 1-1000 (default 100)")
    p.add_argument("--shm-path", help="segment path (default /dev/shm/chronotick_shm)")
    p.add_argument("--cpu-affinity", type=int, nargs="+", metavar="CPU", help="pin the daemon to these CPUs")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--server",
        action="append",
        metavar="HOST[:PORT]",
        help="NTP server (repeatable; replaces the config's)",
    )
    p.add_argument(
        "--print-default-config", action="store_true", help="print the shipped default config and exit"
    )
    p.add_argument("--check-config", action="store_true", help="validate the config and exit")
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on this port")
    p.add_argument("--metrics-address", metavar="ADDR", help="metrics bind address (default 127.0.0.1)")
    p.add_argument(
        "--allow-root",
        action="store_true",
        help="run even as root (the daemon is meant to run as a dedicated unprivileged user)",
    )
    return p


def apply_overrides(cfg: ChronoTickConfig, args: argparse.Namespace) -> ChronoTickConfig:
    """Command-line options override the file; the result is validated like the file itself."""
    data = cfg.model_dump()
    d = data["daemon"]
    if args.freq is not None:
        d["freq_hz"] = args.freq
    if args.shm_path is not None:
        d["shm_path"] = args.shm_path
    if args.cpu_affinity is not None:
        d["cpu_affinity"] = args.cpu_affinity
    if args.log_level is not None:
        d["log_level"] = args.log_level
    if args.server:
        data["clock_measurement"]["ntp"]["servers"] = args.server
    if args.metrics_port is not None:
        d["metrics_port"] = args.metrics_port
    if args.metrics_address is not None:
        d["metrics_address"] = args.metrics_address
    return parse_config(data, "command line")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.print_default_config:
        sys.stdout.write(default_config_text())
        return EXIT_OK
    try:
        cfg = apply_overrides(load_config(args.config), args)
    except ConfigError as exc:
        print(f"chronotick-daemon: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.check_config:
        sys.stdout.write(config_yaml(cfg))  # the merged result: the defaults, the file, the options
        print("# config OK")
        return EXIT_OK
    if os.geteuid() == 0 and not args.allow_root:
        print(
            "chronotick-daemon: refusing to run as root; run it as a dedicated user "
            "(see deploy/systemd) or pass --allow-root",
            file=sys.stderr,
        )
        return EXIT_USAGE
    logging.basicConfig(
        level=cfg.daemon.log_level,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if cfg.daemon.cpu_affinity:
        try:
            os.sched_setaffinity(0, cfg.daemon.cpu_affinity)
        except (OSError, ValueError) as exc:
            print(f"chronotick-daemon: cannot pin to CPUs {cfg.daemon.cpu_affinity}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return run(cfg)


def run(cfg: ChronoTickConfig) -> int:
    from chronotick_engine.daemon import Daemon
    from chronotick_engine.protocol.writer import Publisher

    log = logging.getLogger("chronotick.daemon")
    try:
        publisher = Publisher(cfg.daemon.shm_path, mode=cfg.daemon.mode, group=cfg.daemon.shm_group)
    except ChronoTickError as exc:
        print(f"chronotick-daemon: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    clockbound = None
    if cfg.clockbound is not None:
        from chronotick_engine.daemon.clockbound_output import ClockBoundOutput
        from chronotick_engine.protocol.clockbound import ClockBoundWriter

        try:
            writer = ClockBoundWriter(cfg.clockbound.path, mode=cfg.daemon.mode, group=cfg.daemon.shm_group)
        except ChronoTickError as exc:
            publisher.close()
            print(f"chronotick-daemon: ClockBound segment: {exc}", file=sys.stderr)
            return EXIT_RUNTIME
        clockbound = ClockBoundOutput(writer, cfg.daemon.void_after_seconds)
    daemon = Daemon(cfg)
    if cfg.daemon.metrics_port is not None:
        from chronotick_engine.daemon.metrics import start_metrics_server

        try:
            start_metrics_server(daemon.detail, cfg.daemon.metrics_port, cfg.daemon.metrics_address)
        except ChronoTickError as exc:
            publisher.close()
            if clockbound is not None:
                clockbound.close()
            print(f"chronotick-daemon: {exc}", file=sys.stderr)
            return EXIT_USAGE
    daemon.start_forecasters()

    def _stop(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        daemon.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    servers = ", ".join(e.name + (" (NTS)" if e.nts else "") for e in cfg.clock_measurement.ntp.entries())
    log.info("publishing to %s at %g Hz; servers: %s", cfg.daemon.shm_path, cfg.daemon.freq_hz, servers)
    if clockbound is not None:
        log.info(
            "also writing a ClockBound v2 segment at %s (its bound: the hard bound)", cfg.clockbound.path
        )
    try:
        daemon.run(publisher, clockbound)
    finally:
        publisher.close()
        if clockbound is not None:
            clockbound.close()
    log.info("stopped cleanly; segment marked STOPPED")
    return EXIT_OK


def entry() -> int:
    return run_entry("chronotick-daemon", main)


if __name__ == "__main__":
    raise SystemExit(entry())
