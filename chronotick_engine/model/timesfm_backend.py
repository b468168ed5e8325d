"""Loading and running a TimesFM 2.5 checkpoint: the only module that imports torch or timesfm.

A checkpoint is a Hugging Face id (cached by huggingface_hub, `HF_HUB_OFFLINE` respected) or a
local directory holding `model.safetensors` and `config.json`, as `save_pretrained` writes it.
Every failure becomes one ForecastBackendError line, so the daemon can say why and carry on with
the classical model.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chronotick_engine.errors import ForecastBackendError

log = logging.getLogger("chronotick.forecast")

DEFAULT_CHECKPOINT = "google/timesfm-2.5-200m-pytorch"
INSTALL_HINT = "pip install 'chronotick[timesfm]'"
# The quantile head's channels: index 0 is the mean, then q0.1 ... q0.9.
Q10, Q50, Q90 = 1, 5, 9


@dataclass(frozen=True, slots=True)
class Forecast:
    """One series' forecast: point and the q0.1 / q0.9 quantiles, one value per future step."""

    point: np.ndarray
    q10: np.ndarray
    q90: np.ndarray


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _import_runtime():
    try:
        import torch
    except ImportError as exc:
        raise ForecastBackendError(
            f"TimesFM needs torch, which is not installed ({INSTALL_HINT}): {exc}"
        ) from None
    try:
        import timesfm
    except ImportError as exc:
        raise ForecastBackendError(f"the timesfm package is not installed ({INSTALL_HINT}): {exc}") from None
    if not hasattr(timesfm, "TimesFM_2p5_200M_torch"):
        raise ForecastBackendError("the installed timesfm has no TimesFM_2p5_200M_torch: need timesfm>=2.5")
    return torch, timesfm


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


class TimesFMBackend:
    """One loaded checkpoint, compiled for the largest context and horizon its users need.

    forecast() is serialised by a lock: the short- and long-term forecasters share one model (one
    copy of ~1 GB of weights) and are batched together when both are due.
    """

    def __init__(self, model: object, source: str, max_context: int, max_horizon: int):
        self._model = model
        self.source = source
        self.max_context = max_context
        self.max_horizon = max_horizon
        self._lock = threading.Lock()
        self.latencies_s: deque[float] = deque(maxlen=256)

    def forecast(self, series: list[np.ndarray], horizon: int) -> list[Forecast]:
        """Forecast `horizon` steps of each series (oldest value first) in one batched call."""
        if not series:
            return []
        if not 1 <= horizon <= self.max_horizon:
            raise ValueError(f"horizon {horizon} outside 1..{self.max_horizon}")
        # timesfm pads the list it is given in place: hand it copies.
        inputs = [np.asarray(s[-self.max_context :], dtype=np.float64).copy() for s in series]
        with self._lock:
            t0 = time.perf_counter()
            try:
                point, quantiles = self._model.forecast(horizon=horizon, inputs=inputs)
            except Exception as exc:
                raise ForecastBackendError(f"TimesFM inference failed: {_first_line(exc)}") from None
            self.latencies_s.append(time.perf_counter() - t0)
        point = np.asarray(point, dtype=np.float64)
        quantiles = np.asarray(quantiles, dtype=np.float64)
        if point.shape != (len(series), horizon) or quantiles.shape[:2] != (len(series), horizon):
            raise ForecastBackendError(
                f"TimesFM returned shape {point.shape}, expected {(len(series), horizon)}"
            )
        out = []
        for i in range(len(series)):
            lo = np.minimum(quantiles[i, :, Q10], quantiles[i, :, Q90])
            hi = np.maximum(quantiles[i, :, Q10], quantiles[i, :, Q90])
            out.append(Forecast(point[i], lo, hi))
        return out


def load_backend(
    checkpoint: str | None,
    *,
    max_context: int,
    max_horizon: int,
    device: str = "cpu",
    local_files_only: bool = False,
    threads: int | None = None,
) -> TimesFMBackend:
    """Build TimesFM 2.5 (torch_compile off: it costs a long first call for no gain on CPU) and load
    `checkpoint`, a directory or a Hugging Face id; raises ForecastBackendError in one line."""
    torch, timesfm = _import_runtime()
    source = checkpoint or DEFAULT_CHECKPOINT
    local = Path(source).expanduser()
    is_dir = local.is_dir()
    if not is_dir and local.exists():
        raise ForecastBackendError(
            f"TimesFM checkpoint {source}: not a directory (give the checkpoint's directory)"
        )
    if not is_dir and source.startswith((".", "/", "~")):
        raise ForecastBackendError(f"TimesFM checkpoint {source}: no such directory")
    if is_dir and not (local / "model.safetensors").is_file():
        raise ForecastBackendError(f"TimesFM checkpoint {source}: no model.safetensors in that directory")
    if device == "cuda" and not torch.cuda.is_available():
        raise ForecastBackendError("TimesFM device 'cuda' requested but torch sees no CUDA device")
    if threads:
        torch.set_num_threads(threads)
    offline = local_files_only or _offline()
    try:
        model = timesfm.TimesFM_2p5_200M_torch.from_pretrained(
            str(local) if is_dir else source, local_files_only=offline, torch_compile=False
        )
    except Exception as exc:
        where = "" if is_dir else (" (offline: not in the Hugging Face cache)" if offline else "")
        raise ForecastBackendError(
            f"cannot load TimesFM checkpoint {source}{where}: {_first_line(exc)}"
        ) from None
    try:
        # TimesFM places itself on the first CUDA device whenever torch sees one.
        model.compile(
            timesfm.ForecastConfig(
                max_context=max_context,
                max_horizon=max_horizon,
                normalize_inputs=True,
                use_continuous_quantile_head=True,
                fix_quantile_crossing=True,
                infer_is_positive=False,  # offsets change sign
            )
        )
    except Exception as exc:
        raise ForecastBackendError(
            f"cannot prepare TimesFM checkpoint {source}: {_first_line(exc)}"
        ) from None
    log.info("TimesFM checkpoint %s loaded (context %d, horizon %d)", source, max_context, max_horizon)
    return TimesFMBackend(model, source, max_context, max_horizon)
