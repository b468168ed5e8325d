"""Configuration schema and the daemon's command line: clear one-line errors, exit code 2."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from conftest import BIN
from hypothesis import given, settings
from hypothesis import strategies as st

from chronotick_engine.config import ConfigError, load_config, parse_config, parse_server


def run_daemon(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "chronotick-daemon"), *args], capture_output=True, text=True, timeout=timeout
    )


def test_default_config_matches_the_guide():
    cfg = load_config(None)
    assert cfg.clock_measurement.timing.warm_up.duration_seconds == 60
    assert cfg.clock_measurement.timing.warm_up.measurement_interval == 5
    assert cfg.clock_measurement.timing.normal_operation.measurement_interval == 180
    assert cfg.daemon.freq_hz == 100 and cfg.fusion.method == "inverse_variance_weighting"


def test_fusion_backtest_window_reaches_the_model():
    from chronotick_engine.model.classical import ClockModel
    from chronotick_engine.model.setup import settings_from_config

    data = yaml.safe_load(load_config(None).model_dump_json())
    assert ClockModel(settings_from_config(parse_config(data))).fusion.window == 128
    data["fusion"]["backtest_window"] = 16
    assert ClockModel(settings_from_config(parse_config(data))).fusion.window == 16


def test_guide_example_is_accepted(tmp_path):
    example = {
        "clock": {"frequency_code": 9, "frequency_type": "second"},
        "clock_measurement": {
            "ntp": {
                "servers": ["pool.ntp.org", "time.google.com", "time.nist.gov"],
                "timeout_seconds": 2.0,
                "max_acceptable_uncertainty": 0.1,
            },
            "timing": {
                "warm_up": {"duration_seconds": 60, "measurement_interval": 5},
                "normal_operation": {"measurement_interval": 180},
            },
        },
        "short_term": {
            "enabled": True,
            "model_name": "timesfm",
            "prediction_horizon": 30,
            "inference_interval": 1.0,
            "device": "cpu",
        },
        "long_term": {
            "enabled": True,
            "model_name": "timesfm",
            "prediction_horizon": 60,
            "inference_interval": 30.0,
            "device": "cpu",
        },
        "fusion": {"enabled": True, "method": "inverse_variance_weighting"},
        "performance": {"batch_size": 1, "cache_size": 5, "max_memory_mb": 2048},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(example))
    assert load_config(path).long_term.prediction_horizon == 60


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"clock_measurement": {"ntp": {"servers": ["a"], "tiemout": 1}}},
            "unknown key 'tiemout' in clock_measurement.ntp",
        ),
        (
            {"clock_measurement": {"ntp": {"servers": ["a"], "timeout_seconds": "soon"}}},
            "clock_measurement.ntp.timeout_seconds",
        ),
        ({"clock_measurement": {"ntp": {"servers": ["a:70000"]}}}, "bad port"),
        ({"clock_measurement": {"ntp": {"servers": []}}}, "clock_measurement.ntp.servers"),
        ({"clock_measurement": {"ntp": {"servers": ["a"]}}, "daemon": {"freq_hz": 5000}}, "daemon.freq_hz"),
        ({}, "missing required key clock_measurement"),
    ],
)
def test_bad_config_one_line(data, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_config(data)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("host", ("host", 123)),
        ("host:11123", ("host", 11123)),
        ("[::1]:5", ("::1", 5)),
        ("[::1]", ("::1", 123)),
    ],
)
def test_server_specs(spec, expected):
    assert parse_server(spec) == expected


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_server_parser_never_crashes(text):
    try:
        host, port = parse_server(text)
        assert host and 1 <= port <= 65535
    except ValueError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
        max_leaves=12,
    )
)
def test_config_loader_only_raises_config_error(data):
    try:
        parse_config(data)
    except ConfigError as exc:
        assert "\n" not in str(exc)


def test_cli_print_default_config():
    out = run_daemon("--print-default-config")
    assert out.returncode == 0 and "normal_operation" in out.stdout
    assert yaml.safe_load(out.stdout)["clock_measurement"]["ntp"]["servers"]


@pytest.mark.parametrize(
    "args",
    [["--freq", "0"], ["--freq", "abc"], ["--bogus"], ["--config", "/nonexistent.yaml"], ["--server", "h:0"]],
)
def test_cli_bad_arguments_exit_2_with_one_line(args):
    out = run_daemon(*args, "--check-config")
    assert out.returncode == 2, out
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_cli_bad_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("clock_measurement: [unclosed\n")
    out = run_daemon("--config", str(bad), "--check-config")
    assert out.returncode == 2 and "invalid YAML" in out.stderr


def test_options_override_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("clock_measurement:\n  ntp:\n    servers: [a]\ndaemon:\n  freq_hz: 10\n")
    out = run_daemon("--config", str(path), "--freq", "250", "--check-config")
    assert out.returncode == 0


def test_a_file_that_sets_one_key_inherits_the_shipped_defaults(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text("clock_measurement:\n  ntp:\n    timeout_seconds: 0.5\n")
    cfg, default = load_config(path), load_config(None)
    assert cfg.clock_measurement.ntp.timeout_seconds == 0.5
    assert cfg.clock_measurement.ntp.servers == default.clock_measurement.ntp.servers
    assert cfg.clock_measurement.timing == default.clock_measurement.timing
    assert cfg.daemon == default.daemon


def test_lists_replace_and_mappings_merge(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("clock_measurement:\n  ntp:\n    servers: [a:5]\ndaemon:\n  freq_hz: 10\n")
    cfg = load_config(path)
    assert cfg.clock_measurement.ntp.servers == ["a:5"]
    assert cfg.daemon.freq_hz == 10 and cfg.daemon.shm_path == load_config(None).daemon.shm_path


def test_check_config_prints_the_merged_result(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text("clock_measurement:\n  ntp:\n    timeout_seconds: 0.5\n")
    out = run_daemon("--config", str(path), "--freq", "250", "--check-config")
    assert out.returncode == 0 and out.stdout.rstrip().endswith("config OK"), out
    merged = tmp_path / "merged.yaml"
    merged.write_text(out.stdout)
    cfg = load_config(merged)
    assert cfg.daemon.freq_hz == 250 and cfg.clock_measurement.ntp.timeout_seconds == 0.5
    assert cfg.clock_measurement.ntp.servers == load_config(None).clock_measurement.ntp.servers


def test_a_segment_mode_others_could_write_is_refused():
    data = {"clock_measurement": {"ntp": {"servers": ["a"]}}, "daemon": {"shm_mode": "0664"}}
    with pytest.raises(ConfigError, match="daemon.shm_mode: .*only the daemon writes"):
        parse_config(data)
