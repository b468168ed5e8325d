"""Configuration schema and the daemon's command line: clear one-line errors, exit code 2."""

from __future__ import annotations

import re
import subprocess
import typing

import pytest
import yaml
from conftest import BIN
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from chronotick_engine.config import (
    ChronoTickConfig,
    ConfigError,
    NtpSection,
    NtpServer,
    config_yaml,
    load_config,
    parse_config,
    parse_server,
)


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


def _schema_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key the schema accepts, dotted; a server list's keys as `servers[0].key`."""
    out = []
    for name, field in model.model_fields.items():
        out.append(prefix + name)
        for sub in (field.annotation, *typing.get_args(field.annotation)):
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                out += _schema_paths(sub, f"{prefix}{name}.")
    if model is NtpSection:
        out += _schema_paths(NtpServer, f"{prefix}servers[0].")
    return out


def _lookup(data: object, path: str) -> object:
    for part in path.replace("[0]", ".0").split("."):
        data = data[int(part)] if part.isdigit() else data[part]  # type: ignore[index]
    return data


def test_print_default_config_shows_every_key_with_a_comment():
    text = run_daemon("--print-default-config").stdout
    data = yaml.safe_load(text)
    missing = []
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    for path in _schema_paths(ChronoTickConfig):
        parent, _, leaf = path.rpartition(".")
        if parent and _lookup(data, parent) is None:  # an optional section, off: its example says it
            if f"{leaf}:" not in comments:
                missing.append(path)
            continue
        try:
            _lookup(data, path)
        except (KeyError, IndexError, TypeError):
            missing.append(path)
    assert not missing, f"--print-default-config leaves out {missing}"
    lines = text.splitlines()
    for i, line in enumerate(lines):
        key = re.match(r"^\s*(?:- )?(\w+):\s*(\S.*)?$", line)
        if key is None or key.group(2) is None or key.group(2).startswith("#"):
            continue  # a section heading, or a comment
        commented = "#" in key.group(2) or lines[i - 1].lstrip().startswith("#")
        assert commented, f"no comment on {line.strip()!r}"
    assert load_config(None) == parse_config(data)


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


def _servers(*entries) -> dict:
    return {"clock_measurement": {"ntp": {"servers": list(entries)}}}


def test_server_entries_may_be_strings_or_mappings(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    cfg = parse_config(
        _servers(
            "pool.ntp.org",
            "127.0.0.1:11123",
            {"host": "time.cloudflare.com", "nts": True},
            {"host": "nts.example", "nts": True, "port": 1123, "nts_ke_port": 4461, "ca_file": str(ca)},
            {"host": "plain.example", "port": 9123},
        )
    )
    entries = cfg.clock_measurement.ntp.entries()
    assert [e.name for e in entries] == [
        "pool.ntp.org:123",
        "127.0.0.1:11123",
        "time.cloudflare.com",
        "nts.example:1123",
        "plain.example:9123",
    ]
    assert [e.nts for e in entries] == [False, False, True, True, False]
    assert entries[3].nts_ke_port == 4461 and entries[3].ca_file == str(ca) and entries[2].nts_ke_port == 4460
    # A config printed by --check-config reads back to the same config.
    assert parse_config(yaml.safe_load(config_yaml(cfg))) == cfg


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"host": "a", "nts": "maybe"},
            "clock_measurement.ntp.servers.0.nts: Input should be a valid boolean",
        ),
        ({"host": "a", "ntss": True}, "unknown key 'ntss' in clock_measurement.ntp.servers.0"),
        ({"nts": True}, "missing required key clock_measurement.ntp.servers.0.host"),
        ({"host": "a:123", "nts": True}, "give the port as port:"),
        ({"host": "a", "nts": True, "ca_file": "/nonexistent/ca.pem"}, "cannot read /nonexistent/ca.pem"),
        ({"host": "a", "ca_file": "/etc/hostname"}, "apply only with nts: true"),
        ({"host": "a", "nts": True, "nts_ke_port": 0}, "nts_ke_port"),
        (7, "clock_measurement.ntp.servers.0: Input should be a valid string"),
    ],
)
def test_bad_server_entries_are_one_line(entry, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_config(_servers(entry))
    assert "\n" not in str(err.value) and "mapping" not in str(err.value)


def test_a_server_listed_twice_is_refused():
    with pytest.raises(ConfigError, match="server a:123 is listed twice"):
        parse_config(_servers("a", {"host": "a", "port": 123}))


def test_the_shipped_default_prefers_nts():
    entries = load_config(None).clock_measurement.ntp.entries()
    assert sum(e.nts for e in entries) >= 3 and all(e.ca_file is None for e in entries)


def test_more_plain_servers_than_nts_ones_is_warned_about(caplog):
    import threading

    from chronotick_engine.daemon.measurement import Measurer
    from chronotick_engine.measure.ntp import SYSTEM_CLOCK, query

    mixed = parse_config(_servers("a", "b", {"host": "c", "nts": True}))
    Measurer(mixed, SYSTEM_CLOCK, query, threading.Event(), 0).shutdown()
    assert "2 plain NTP servers beside 1 NTS servers" in caplog.text
    caplog.clear()
    mostly_nts = parse_config(_servers("a", {"host": "c", "nts": True}, {"host": "d", "nts": True}))
    Measurer(mostly_nts, SYSTEM_CLOCK, query, threading.Event(), 0).shutdown()
    assert "plain NTP servers beside" not in caplog.text
