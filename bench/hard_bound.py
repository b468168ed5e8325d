"""The hard bound beside the 95% one, on the shared traces (replay: the classical model, one server).

At each exchange after the warm-up, before it is revealed: the model's 95% interval, and the hard
interval the daemon publishes (measure/hard_bound.py: the last round's offset ± delay/2, widened by
estimator.max_drift_ppm per second of age and moved along the model's drift, held to contain the
95% one). The traces have no truth column, so each is scored one step ahead, as the replay is:
the 95% interval against the exchange's offset, and the hard interval against the exchange's own
proof, offset ± delay/2 (a hard bound that misses it is proven wrong). The traces carry no root
distance, so it is 0 here: the hard interval then trusts the server's own time, as ClockBound trusts
chronyd's. One JSON line per trace, and a summary line.

    .venv/bin/python bench/hard_bound.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from chronotick_engine.config import load_config
from chronotick_engine.daemon.publication import hard_interval_now
from chronotick_engine.eval.replay import WARMUP_EXCHANGES, load_trace
from chronotick_engine.measure.hard_bound import intersect
from chronotick_engine.measure.measurement import Measurement
from chronotick_engine.measure.ntp import Exchange
from chronotick_engine.model.classical import ClockModel
from chronotick_engine.model.setup import settings_from_config

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "traces"


def run(path: Path) -> dict:
    cfg = load_config(None)
    model = ClockModel(settings_from_config(cfg))
    max_drift = cfg.estimator.max_drift_ppm * 1e-6
    hard = None
    fed = 0
    half95, half_hard, in95, in_hard = [], [], 0, 0
    for row in load_trace(path):
        t_ns = int(row.t * 1e9)
        est = model.estimate
        usable = row.ntp_offset is not None and row.ntp_delay is not None and row.ntp_delay > 0
        if usable and est is not None and hard is not None and fed > WARMUP_EXCHANGES:
            t = row.t
            c, h = est.offset_at(t), est.halfwidth_at(t)
            lo, hi = hard_interval_now(hard, est, t_ns)
            half95.append(h)
            half_hard.append((hi - lo) / 2)
            in95 += abs(row.ntp_offset - c) <= h
            r = row.ntp_delay / 2
            in_hard += lo <= row.ntp_offset + r and row.ntp_offset - r <= hi
        if usable:
            verdict = model.update(Measurement(row.t, row.ntp_offset, row.ntp_delay))
            fed += 1
            if verdict != "outlier":
                est = model.estimate
                ex = Exchange("trace", row.ntp_offset, row.ntp_delay, t_ns, 0, 1, 0.0)
                hard = intersect([ex], t_ns, 0.0 if est is None else est.drift, max_drift)
    n = len(half95)
    if n == 0:
        return {"trace": path.stem, "instants": 0, "note": "no usable exchanges"}
    return {
        "trace": path.stem,
        "instants": n,
        "halfwidth95_ms_mean": round(statistics.fmean(half95) * 1e3, 4),
        "hard_halfwidth_ms_mean": round(statistics.fmean(half_hard) * 1e3, 4),
        "hard_over_95_ratio": round(statistics.fmean(half_hard) / statistics.fmean(half95), 3),
        "coverage95_one_step": round(in95 / n, 4),
        "hard_consistent": round(in_hard / n, 4),
        "max_drift_ppm": cfg.estimator.max_drift_ppm,
    }


def main() -> None:
    results = [run(p) for p in sorted(SHARED.glob("*.csv"))]
    for r in results:
        print(json.dumps(r))
    scored = [r for r in results if r["instants"]]
    print(
        json.dumps(
            {
                "summary": "hard_bound",
                "traces": len(scored),
                "hard_consistent_min": min(r["hard_consistent"] for r in scored),
                "hard_always_holds_95": all(
                    r["hard_halfwidth_ms_mean"] >= r["halfwidth95_ms_mean"] for r in scored
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
