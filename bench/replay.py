"""Replay every shared trace and every simulated scenario at K = 1 and K = 4; one JSON line each,
with the goals checked against the baselines of the same run."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from chronotick_engine.replay import load_trace, replay_report
from chronotick_engine.simulate import SCENARIOS, simulate, write_trace

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "traces"
ROBUST_ROOM = {"delay-spikes", "falseticker", "temperature-wander", "frequency-random-walk", "clock-step"}


def judge(report: dict, simulated: bool) -> dict:
    e = report["estimators"]
    ct = e["chronotick"]
    best_name = min(("hold-last", "median-8", "wls"), key=lambda n: e[n]["mae_ms"])
    best = e[best_name]["mae_ms"]
    bound_half = e["clockbound-50ppm"]["halfwidth_ms"] / 2
    goals = {
        "mae_le_best_baseline": ct["mae_ms"] <= best,
        "coverage_ge_0_95": ct["coverage"] >= 0.95,
        "halfwidth_le_half_clockbound": ct["halfwidth_ms"] <= bound_half,
    }
    if not simulated:
        goals["mae_le_system"] = ct["mae_ms"] <= e["system"]["mae_ms"]
    if simulated and report["trace"] in ROBUST_ROOM:
        goals["mae_le_0_8_best"] = ct["mae_ms"] <= 0.8 * best
    return {
        "best_baseline": best_name,
        "mae_ratio_to_best": round(ct["mae_ms"] / best, 3),
        "half_clockbound_ms": round(bound_half, 3),
        "goals": goals,
    }


def main() -> None:
    traces = [(p, False) for p in sorted(SHARED.glob("*.csv"))]
    tmp = Path(tempfile.mkdtemp(prefix="chronotick-sim-"))
    for name in sorted(SCENARIOS):
        path = tmp / f"{name}.csv"
        write_trace(simulate(name, seed=1), path)
        traces.append((path, True))
    for path, simulated in traces:
        rows = load_trace(path)
        for k in (1, 4):
            report = replay_report(rows, path.stem, k)
            report.update(judge(report, simulated))
            report["simulated"] = simulated
            print(json.dumps(report), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
