"""`chronotick-eval`: replay traces through the daemon's estimator, simulate traces, plot a replay."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from chronotick_engine.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, Parser, run_entry
from chronotick_engine.config import load_config
from chronotick_engine.errors import ConfigError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    from chronotick_engine.eval.simulate import SCENARIOS

    p = Parser(prog="chronotick-eval", description="Score ChronoTick's estimator on NTP traces.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    r = sub.add_parser("replay", help="replay a trace CSV and print scores")
    r.add_argument("trace")
    r.add_argument("--poll-every", type=_positive_int, default=1, metavar="K")
    r.add_argument("--config", help="daemon config: estimator settings and TimesFM forecasters to replay")
    r.add_argument("--json", action="store_true")
    s = sub.add_parser("simulate", help="write a seeded synthetic trace")
    s.add_argument("scenario", choices=sorted(SCENARIOS) + ["all"])
    s.add_argument("--out", required=True, help="output CSV (a directory with 'all')")
    s.add_argument("--seed", type=int, default=1)
    pl = sub.add_parser("plot", help="PNG of truth, estimate, 95%% band and NTP samples")
    pl.add_argument("trace")
    pl.add_argument("--out", required=True)
    pl.add_argument("--poll-every", type=_positive_int, default=1, metavar="K")
    return p


def cmd_replay(args: argparse.Namespace) -> int:
    from chronotick_engine.eval.replay import load_trace, replay_report

    report = replay_report(
        load_trace(args.trace), Path(args.trace).stem, args.poll_every, cfg=load_config(args.config)
    )
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['trace']} (K={args.poll_every}, {report['points']} points)")
        for name, sc in report["estimators"].items():
            extra = (
                f"  coverage {sc['coverage']:.3f}  ±{sc['halfwidth_ms']:.2f} ms" if "coverage" in sc else ""
            )
            print(f"  {name:18s} MAE {sc['mae_ms']:8.3f} ms  p95 {sc['p95_ms']:8.3f} ms{extra}")
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from chronotick_engine.eval.simulate import SCENARIOS, simulate, write_trace

    names = sorted(SCENARIOS) if args.scenario == "all" else [args.scenario]
    out = Path(args.out)
    if args.scenario == "all":
        out.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = out / f"{name}.csv" if args.scenario == "all" else out
        write_trace(simulate(name, args.seed), path)
        print(f"wrote {path}: {SCENARIOS[name].doc}")
    return EXIT_OK


def cmd_plot(args: argparse.Namespace) -> int:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("chronotick-eval: plot needs matplotlib: pip install 'chronotick[plot]'", file=sys.stderr)
        return EXIT_FAIL
    import numpy as np

    from chronotick_engine.eval.replay import ChronoTick, ReplayTrack, load_trace, replay

    track = ReplayTrack()
    replay(load_trace(args.trace), [ChronoTick()], args.poll_every, track)
    t0 = track.t[0] if track.t else 0
    t = (np.array(track.t) - t0) / 3600
    est, hw = np.array(track.estimate) * 1e3, np.array(track.halfwidth) * 1e3
    truth = np.array(track.truth) * 1e3
    # Top: the series as a person sees it. Bottom: the error against the truth with the 95% band
    # around zero, where a drift of hundreds of ms would otherwise hide a band of a few ms.
    fig, (ax, ax_err) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    ax.fill_between(t, est - hw, est + hw, alpha=0.25, label="ChronoTick 95% interval")
    ax.plot(t, est, lw=1.2, label="ChronoTick estimate")
    ax.plot(t, truth, "k.", ms=2.5, label="truth (next exchange when unknown)")
    ax.plot(
        (np.array(track.ntp_t) - t0) / 3600,
        np.array(track.ntp_offset) * 1e3,
        "x",
        ms=3,
        alpha=0.5,
        label="NTP samples fed",
    )
    ax.set_ylabel("offset (ms)")
    ax.set_title(f"{Path(args.trace).stem} (K={args.poll_every})")
    ax.legend(loc="best", fontsize=8)
    err = est - truth
    inside = np.abs(err) <= hw
    ax_err.fill_between(t, -hw, hw, alpha=0.25, label="95% interval")
    ax_err.plot(t[inside], err[inside], ".", ms=2.5, color="tab:blue", label="error (truth inside)")
    ax_err.plot(t[~inside], err[~inside], "o", ms=4, color="tab:red", label="error (truth outside)")
    ax_err.axhline(0, color="k", lw=0.6)
    coverage = f"coverage {inside.mean():.3f}" if inside.size else "no points"
    ax_err.set_title(f"estimate - truth: MAE {np.abs(err).mean():.3f} ms, {coverage}", fontsize=9)
    ax_err.set_xlabel("hours")
    ax_err.set_ylabel("error (ms)")
    ax_err.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Errors only (a checkpoint that will not load), one line each; the estimator's warnings about
    # the steps it accepts are the daemon's business, not a replay's.
    logging.basicConfig(level=logging.ERROR, format="chronotick-eval: %(message)s")
    try:
        return {"replay": cmd_replay, "simulate": cmd_simulate, "plot": cmd_plot}[args.command](args)
    except (ValueError, ConfigError, OSError) as exc:
        print(f"chronotick-eval: {exc}", file=sys.stderr)
        return EXIT_USAGE


def entry() -> int:
    return run_entry("chronotick-eval", main)


if __name__ == "__main__":
    raise SystemExit(entry())
