"""TimesFM forecasters through the project's real loading path, with a randomly initialised
TimesFM 2.5 saved to a temporary directory (no weights can be downloaded here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import BIN, TRACES

from chronotick_engine import ChronoTickClient
from chronotick_engine.config import parse_config
from chronotick_engine.errors import ForecastBackendError
from chronotick_engine.eval.replay import load_trace, replay_report
from chronotick_engine.measure.measurement import Measurement
from chronotick_engine.model.classical import ClockModel
from chronotick_engine.model.setup import attach_forecasters
from chronotick_engine.model.timesfm_backend import load_backend

timesfm = pytest.importorskip("timesfm", reason="the timesfm extra is not installed")
torch = pytest.importorskip("torch", reason="the timesfm extra is not installed")

TRACE_NAMES = ["homelab-4h", "homelab-9h", "homelab-9h-drifting"]


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised TimesFM 2.5 written by save_pretrained (~925 MB, temporary)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("timesfm-random")
    timesfm.TimesFM_2p5_200M_torch(torch_compile=False).save_pretrained(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def forecast_config(checkpoint: Path | str, **short) -> dict:
    section = {"enabled": True, "model_path": str(checkpoint)}
    return {
        "clock_measurement": {"ntp": {"servers": ["127.0.0.1:123"]}},
        "performance": {"inference_threads": 2},
        "short_term": {**section, "prediction_horizon": 30, "inference_interval": 30, **short},
        "long_term": {**section, "prediction_horizon": 60, "inference_interval": 300},
    }


def test_offline_load_and_both_forecasts(checkpoint, offline):
    backend = load_backend(str(checkpoint), max_context=512, max_horizon=60)
    rng = np.random.default_rng(1)
    short = np.cumsum(rng.normal(0, 1e-4, 200))
    long = np.cumsum(rng.normal(0, 1e-4, 512))
    s, lng = backend.forecast([short, long], horizon=60)
    for f in (s, lng):
        assert f.point.shape == f.q10.shape == f.q90.shape == (60,)
        assert np.all(np.isfinite(f.point)) and np.all(np.isfinite(f.q10)) and np.all(np.isfinite(f.q90))
        assert np.all(f.q10 <= f.q90)
    # The quantile head itself comes back ordered (fix_quantile_crossing).
    _, q = backend._model.forecast(horizon=30, inputs=[short.copy()])
    assert np.all(np.diff(q[0, :, 1:], axis=-1) >= -1e-9)
    assert len(backend.latencies_s) == 1


def test_fused_model_uses_only_measurements_and_stays_finite(checkpoint, offline):
    cfg = parse_config(forecast_config(checkpoint, inference_interval=1))
    model = ClockModel()
    status = attach_forecasters(model, cfg, threaded=False)
    assert status.ready and status.error is None
    rng = np.random.default_rng(2)
    for i in range(60):
        t = 64.0 * i
        model.update(Measurement(t, 1e-3 + 5e-6 * t + rng.normal(0, 2e-4), 2e-3))
    fore = {p.name: p for p in status.predictors}
    assert fore["timesfm-short"].forecasts > 30 and fore["timesfm-long"].forecasts > 0
    # The forecasters' buffers hold exactly the fed measurements, never a prediction.
    assert len(fore["timesfm-short"]._y) == 60
    est = model.estimate
    assert est is not None and np.isfinite(est.offset_s) and est.offset_unc_s > 0
    assert abs(est.drift - 5e-6) < 1e-6


def _replay_with_timesfm(job: tuple[str, str]) -> dict:
    """One trace replayed with both forecasters, in a worker process (one forecast thread)."""
    checkpoint, trace = job
    os.environ["HF_HUB_OFFLINE"] = "1"
    cfg = forecast_config(checkpoint)
    cfg["performance"]["inference_threads"] = 1
    return replay_report(load_trace(TRACES / f"{trace}.csv"), trace, 1, cfg=parse_config(cfg))


@pytest.fixture(scope="module")
def trace_reports(checkpoint) -> dict[str, dict]:
    """Every shared trace replayed with TimesFM at once, a process per core, longest first: the
    slowest part of the suite, which one process on two forecast threads left half idle."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    present = [t for t in TRACE_NAMES if (TRACES / f"{t}.csv").exists()]
    present.sort(key=lambda t: -(TRACES / f"{t}.csv").stat().st_size)
    if not present:
        return {}
    workers = max(1, min(len(present), os.cpu_count() or 1))
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        return dict(
            zip(present, pool.map(_replay_with_timesfm, [(str(checkpoint), t) for t in present]), strict=True)
        )


@pytest.mark.slow
@pytest.mark.parametrize("trace", TRACE_NAMES)
def test_random_timesfm_can_only_help(trace_reports, trace):
    """A randomly initialised TimesFM, fused with the classical model, keeps MAE within 5% of the
    classical-only MAE, coverage >= 0.95 and a half-width no wider than the classical one."""
    if trace not in trace_reports:
        pytest.skip("../shared/traces is not beside this checkout")
    report = trace_reports[trace]
    fused, classical = report["estimators"]["chronotick"], report["estimators"]["chronotick-classical"]
    assert report["forecast"]["ready"] and report["forecast"]["forecasts"]["timesfm-short"] > 50
    assert fused["mae_ms"] <= 1.05 * classical["mae_ms"], (fused, classical)
    assert fused["coverage"] >= 0.95
    assert fused["halfwidth_ms"] <= classical["halfwidth_ms"] * 1.01, (fused, classical)


def test_missing_checkpoint_is_one_line_and_classical_goes_on(tmp_path, offline):
    cfg = parse_config(forecast_config(tmp_path / "nowhere"))
    model = ClockModel()
    status = attach_forecasters(model, cfg, threaded=False)
    assert not status.ready and "no such directory" in status.error and "\n" not in status.error
    model.update(Measurement(0.0, 1e-3, 1e-3))
    assert model.estimate is not None and not model.estimate.fused
    with pytest.raises(ForecastBackendError, match="no model.safetensors"):
        load_backend(str(tmp_path), max_context=64, max_horizon=32)


def test_uncached_hub_id_offline_is_one_line(offline):
    with pytest.raises(ForecastBackendError, match="offline: not in the Hugging Face cache") as exc:
        load_backend("example-org/no-such-timesfm", max_context=64, max_horizon=32)
    assert "\n" not in str(exc.value)


def test_corrupt_safetensors_is_one_line(checkpoint, tmp_path, offline):
    bad = tmp_path / "corrupt"
    bad.mkdir()
    shutil.copy(checkpoint / "config.json", bad / "config.json")
    (bad / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json" + os.urandom(512))
    with pytest.raises(ForecastBackendError, match="cannot load TimesFM checkpoint") as exc:
        load_backend(str(bad), max_context=64, max_horizon=32)
    assert "\n" not in str(exc.value)


def _without_torch(tmp_path: Path) -> dict[str, str]:
    """An environment whose `import torch` fails as it does where the extra is not installed."""
    shadow = tmp_path / "no-torch" / "torch"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'torch'\")\n")
    return {**os.environ, "PYTHONPATH": str(shadow.parent), "HF_HUB_OFFLINE": "1"}


def test_missing_torch_replay_says_so_and_replays_classical(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps(forecast_config(tmp_path)))
    trace = tmp_path / "t.csv"
    trace.write_text(
        "t_s,ntp_offset_s,ntp_delay_s\n" + "".join(f"{i * 64},{1e-3},{1e-3}\n" for i in range(20))
    )
    r = subprocess.run(
        [str(BIN / "chronotick-eval"), "replay", str(trace), "--config", str(cfg), "--json"],
        env=_without_torch(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    [line] = r.stderr.strip().splitlines()
    assert "TimesFM needs torch" in line and "classical model only" in line
    report = json.loads(r.stdout)
    assert report["forecast"]["ready"] is False and report["estimators"]["chronotick"]["mae_ms"] is not None


@pytest.mark.integration
def test_daemon_without_torch_synchronises_classical_and_says_why(chrony, tmp_path, daemon_factory, shm_path):
    extra = "short_term: {enabled: true, model_path: /nonexistent}\n"
    d = daemon_factory([chrony.address], extra, env=_without_torch(tmp_path))
    client = ChronoTickClient(shm_path)
    assert client.wait_for_sync(10)
    assert client.get_daemon_info()["models_ready"] is False
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        models = d.status_file()["models"]
        if models["error"]:
            break
        time.sleep(0.2)
    assert "TimesFM needs torch" in models["error"]
    assert d.stop() == 0
    err = d.proc.stderr.read()
    assert "Traceback" not in err and "TimesFM needs torch" in err


@pytest.mark.integration
def test_daemon_with_both_models_publishes_fused_readiness(chrony, checkpoint, daemon_factory, shm_path):
    extra = "".join(
        f"{section}: {{enabled: true, model_path: '{checkpoint}', context_length: 64, "
        f"prediction_horizon: {h}, inference_interval: 1}}\n"
        for section, h in (("short_term", 30), ("long_term", 60))
    )
    d = daemon_factory([chrony.address], extra)
    client = ChronoTickClient(shm_path)
    assert client.wait_for_sync(10)
    deadline = time.monotonic() + 60
    models: dict = {}
    while time.monotonic() < deadline:
        models = d.status_file()["models"]
        if all(n >= 2 for n in models["forecasts"].values()) and models["forecasts"]:
            break
        time.sleep(0.5)
    assert models["ready"] and models["error"] is None, models
    assert models["forecasts"]["timesfm-short"] >= 2 and models["forecasts"]["timesfm-long"] >= 2
    assert models["inference_ms_p50"] > 0
    assert client.get_daemon_info()["models_ready"] is True
    assert client.get_time().status == "SYNCHRONIZED"
    assert d.stop() == 0


def test_forecast_setup_reports_disabled_fusion(checkpoint):
    data = forecast_config(checkpoint)
    data["fusion"] = {"enabled": False}
    status = attach_forecasters(ClockModel(), parse_config(data), threaded=False)
    assert not status.ready and "fusion.enabled is false" in status.error
