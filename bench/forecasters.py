"""TimesFM forecasters: inference latency and peak memory, and the fused pipeline on every trace.

Prints JSON lines:
- {"benchmark": "timesfm_inference", "case": ...}: p50/p99 latency of the short-term model
  (context 512, horizon 30), the long-term one (512, 60) and the batched pair, at 1 and 2 torch
  threads, with the peak RSS of a process that loaded one checkpoint and ran them.
- {"benchmark": "timesfm_replay", "target": ...}: every shared trace at K = 1 through
  `replay_report(cfg=...)` with both models at their shipped intervals, fused against
  classical-only in the same run, for the `residual` and the `offset` forecast targets.

Without --checkpoint a randomly initialised TimesFM 2.5 is saved to a temporary directory: latency
and memory do not depend on the weights, and the replays then measure the "can only help" bound.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "traces"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 0)
    return float("nan")


def inference(checkpoint: str, threads: int, repeats: int) -> None:
    """Runs in a fresh process so that its peak RSS is one checkpoint's."""
    from chronotick_engine.model.timesfm_backend import load_backend

    backend = load_backend(checkpoint, max_context=512, max_horizon=60, threads=threads)
    rng = np.random.default_rng(0)
    series = np.cumsum(rng.normal(0, 1e-4, 512))
    for case, inputs, horizon in (
        ("short (ctx 512, h 30)", [series], 30),
        ("long (ctx 512, h 60)", [series], 60),
        ("batched pair", [series, series], 60),
    ):
        backend.forecast(inputs, horizon)  # warm
        lat = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            backend.forecast(inputs, horizon)
            lat.append((time.perf_counter() - t0) * 1e3)
        print(
            json.dumps(
                {
                    "benchmark": "timesfm_inference",
                    "case": case,
                    "torch_threads": threads,
                    "repeats": repeats,
                    "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
                    "latency_ms_p99": round(float(np.percentile(lat, 99)), 1),
                    # Peak includes loading (a model built, then its weights read in); rss is steady state.
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
                    "rss_mb": rss_mb(),
                }
            ),
            flush=True,
        )


def replays(checkpoint: str, target: str) -> None:
    from chronotick_engine.config import parse_config
    from chronotick_engine.eval.replay import load_trace, replay_report

    section = {"enabled": True, "model_path": checkpoint, "forecast_target": target}
    cfg = parse_config(
        {
            "clock_measurement": {"ntp": {"servers": ["127.0.0.1"]}},
            "performance": {"inference_threads": 2},
            "short_term": {**section, "prediction_horizon": 30, "inference_interval": 30},
            "long_term": {**section, "prediction_horizon": 60, "inference_interval": 300},
        }
    )
    for path in sorted(SHARED.glob("*.csv")):
        t0 = time.perf_counter()
        r = replay_report(load_trace(path), path.stem, 1, cfg=cfg)
        fused, classical = r["estimators"]["chronotick"], r["estimators"]["chronotick-classical"]
        print(
            json.dumps(
                {
                    "benchmark": "timesfm_replay",
                    "trace": path.stem,
                    "target": target,
                    "poll_every": 1,
                    "fused": fused,
                    "classical": classical,
                    "mae_ratio_fused_to_classical": round(fused["mae_ms"] / classical["mae_ms"], 4),
                    "halfwidth_ratio_fused_to_classical": round(
                        fused["halfwidth_ms"] / classical["halfwidth_ms"], 4
                    ),
                    "forecasts": r["forecast"]["forecasts"],
                    "q80_coverage": r["forecast"]["q80_coverage"],
                    "final_weights": r["forecast"]["weights"],
                    "seconds": round(time.perf_counter() - t0, 1),
                    "targets": {"mae_ratio_max": 1.05, "coverage_min": 0.95, "halfwidth_ratio_max": 1.0},
                }
            ),
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="TimesFM checkpoint directory (default: a random one)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--skip-replay", action="store_true")
    p.add_argument("--inference-only", nargs=2, metavar=("CHECKPOINT", "THREADS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.inference_only:
        inference(args.inference_only[0], int(args.inference_only[1]), args.repeats)
        return
    made = None
    checkpoint = args.checkpoint
    if checkpoint is None:
        import timesfm

        checkpoint = made = tempfile.mkdtemp(prefix="chronotick-timesfm-")
        timesfm.TimesFM_2p5_200M_torch(torch_compile=False).save_pretrained(checkpoint)
    try:
        for threads in (1, 2):
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--repeats",
                    str(args.repeats),
                    "--inference-only",
                    checkpoint,
                    str(threads),
                ],
                check=True,
            )
        if not args.skip_replay:
            for target in ("residual", "offset"):
                replays(checkpoint, target)
    finally:
        if made:
            shutil.rmtree(made, ignore_errors=True)


if __name__ == "__main__":
    main()
