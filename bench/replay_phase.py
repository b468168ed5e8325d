"""ChronoTick's replay errors grouped by how many NTP rows have passed since the last fed one.

With --poll-every K, the rows between fed ones are scored but never seen. If the trace has a cycle
that K-fold subsampling aliases, the errors at those rows differ from the errors at the fed rows,
the only ones a back-test can learn from. Prints one JSON line.

    .venv/bin/python bench/replay_phase.py ../shared/traces/homelab-4h.csv --poll-every 4
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from chronotick_engine.eval.replay import ChronoTick, ReplayTrack, load_trace, replay


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trace")
    p.add_argument("--poll-every", type=int, default=4)
    args = p.parse_args()
    rows = load_trace(args.trace)
    track = ReplayTrack()
    _, scores = replay(rows, [ChronoTick()], args.poll_every, track)
    score = scores["chronotick"]
    fed_t = np.array(track.ntp_t)
    groups: dict[int, list[tuple[float, bool]]] = {}
    ntp_rows = [r.t for r in rows if r.ntp_offset is not None]
    index = {t: i for i, t in enumerate(ntp_rows)}
    for t, err, hit in zip(track.t, score.errors, score.hits, strict=True):
        last_fed = fed_t[fed_t < t].max()
        phase = index[t] - index[float(last_fed)]
        groups.setdefault(phase, []).append((err, hit))
    print(
        json.dumps(
            {
                "benchmark": "replay_phase",
                "trace": args.trace.rsplit("/", 1)[-1],
                "poll_every": args.poll_every,
                "by_rows_since_fed": {
                    str(k): {
                        "points": len(v),
                        "mean_error_ms": round(float(np.mean([e for e, _ in v])) * 1e3, 3),
                        "mae_ms": round(float(np.mean([abs(e) for e, _ in v])) * 1e3, 3),
                        "coverage": round(float(np.mean([h for _, h in v])), 3),
                    }
                    for k, v in sorted(groups.items())
                },
            }
        )
    )


if __name__ == "__main__":
    main()
