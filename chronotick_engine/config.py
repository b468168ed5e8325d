"""Daemon configuration: the deployment guide's YAML schema, validated by pydantic.

Unknown keys are errors (a typo must not silently fall back to a default). Every error is reported
as one line naming the offending key path.
"""

from __future__ import annotations

import math
import os
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from chronotick_engine.errors import ConfigError, quoted
from chronotick_engine.measure.ntp import DEFAULT_NTP_PORT
from chronotick_engine.measure.nts_records import DEFAULT_KE_PORT
from chronotick_engine.protocol.paths import DEFAULT_PATH
from chronotick_engine.shared_files import UnsafeFile, read_bounded


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def parse_server(spec: str) -> tuple[str, int]:
    """'host', 'host:port', '[v6addr]' or '[v6addr]:port' -> (host, port)."""
    spec = spec.strip()
    if not spec:
        raise ValueError("empty server name")
    if spec.startswith("["):
        host, sep, rest = spec[1:].partition("]")
        if not sep or not host:
            raise ValueError(f"bad IPv6 server {quoted(spec)}")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"bad server {quoted(spec)}")
    elif spec.count(":") == 1:
        host, port_text = spec.split(":")
    else:
        host, port_text = spec, ""
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"bad server host in {quoted(spec)}")
    if port_text == "":
        return host, DEFAULT_NTP_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"bad port in server {quoted(spec)}")
    return host, int(port_text)


PositiveSeconds = Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)]
Port = Annotated[int, Field(ge=1, le=65535)]


class NtpServer(_Strict):
    """A server given as a mapping: the form that can ask for NTS (RFC 8915)."""

    host: str
    # Required for this server: it is measured with NTS or not at all, never plain NTP.
    nts: bool = False
    port: Port | None = None  # NTP's port; for NTS, a port from the key exchange overrides it
    nts_ke_port: Port = DEFAULT_KE_PORT
    ca_file: str | None = None  # NTS-KE trust anchors; default: the system store

    @field_validator("host")
    @classmethod
    def _valid_host(cls, host: str) -> str:
        host = host.strip()
        if not host or any(c.isspace() for c in host) or host.startswith("["):
            raise ValueError(f"bad server host {quoted(host)} (a bare host name or address)")
        if host.count(":") == 1:
            raise ValueError(f"bad server host {quoted(host)}: give the port as port:, not in host:")
        return host

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, path: str | None) -> str | None:
        if path is not None and not os.access(path, os.R_OK):
            raise ValueError(f"cannot read {path}")
        return path

    @model_validator(mode="after")
    def _nts_keys_need_nts(self) -> NtpServer:
        if not self.nts and (self.ca_file is not None or self.nts_ke_port != DEFAULT_KE_PORT):
            raise ValueError(f"{self.host}: ca_file and nts_ke_port apply only with nts: true")
        return self

    @property
    def name(self) -> str:
        """How status and logs name it: host:port for plain NTP, as a string entry would be."""
        if self.nts and self.port is None:
            return self.host
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port or DEFAULT_NTP_PORT}"


def _entry_kind(value: object) -> str:
    return "mapping" if isinstance(value, dict | NtpServer) else "string"


ServerEntry = Annotated[
    Annotated[str, Tag("string")] | Annotated[NtpServer, Tag("mapping")], Discriminator(_entry_kind)
]


class ClockSection(_Strict):
    frequency_code: int = 9
    frequency_type: str = "second"


class NtpSection(_Strict):
    servers: list[ServerEntry] = Field(min_length=1)
    timeout_seconds: Annotated[float, Field(gt=0, le=30, allow_inf_nan=False)] = 2.0
    # An exchange whose offset error bound (delay/2) exceeds this is rejected.
    max_acceptable_uncertainty: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 0.1
    retries: Annotated[int, Field(ge=0, le=5)] = 1
    burst_count: Annotated[int, Field(ge=1, le=16)] = 4
    burst_interval_seconds: Annotated[float, Field(gt=0, le=60, allow_inf_nan=False)] = 1.0

    @field_validator("servers")
    @classmethod
    def _valid_servers(cls, servers: list[str | NtpServer]) -> list[str | NtpServer]:
        names = [s.name for s in _as_entries(servers)]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ValueError(f"server {dup} is listed twice")
        return servers

    def entries(self) -> list[NtpServer]:
        """Every server as a mapping entry (a string is plain NTP at host:port)."""
        return _as_entries(self.servers)


def _as_entries(servers: list[str | NtpServer]) -> list[NtpServer]:
    out = []
    for s in servers:
        if isinstance(s, str):
            host, port = parse_server(s)
            s = NtpServer(host=host, port=port)
        out.append(s)
    return out


class WarmUp(_Strict):
    duration_seconds: Annotated[float, Field(ge=0, le=86400, allow_inf_nan=False)] = 60.0
    measurement_interval: PositiveSeconds = 5.0


class NormalOperation(_Strict):
    measurement_interval: PositiveSeconds = 180.0


class Timing(_Strict):
    warm_up: WarmUp = WarmUp()
    normal_operation: NormalOperation = NormalOperation()


class ChronySection(_Strict):
    """The host's chronyd as the source, read through its command socket (measure/chrony.py)."""

    socket: str = "/run/chrony/chronyd.sock"
    poll_seconds: Annotated[float, Field(ge=0.05, le=60, allow_inf_nan=False)] = 1.0
    # Not SYNCHRONIZED once chronyd has not updated the clock for this long (3 of its longest polls).
    max_reference_age_seconds: PositiveSeconds = 3072.0


class ClockMeasurement(_Strict):
    ntp: NtpSection
    timing: Timing = Timing()
    chrony: ChronySection | None = None


class ModelSection(_Strict):
    enabled: bool = False
    model_name: Literal["timesfm"] = "timesfm"
    model_path: str | None = None  # a local checkpoint directory or a Hugging Face id
    prediction_horizon: Annotated[int, Field(ge=1, le=1024)] = 30
    context_length: Annotated[int, Field(ge=16, le=16384)] = 512
    inference_interval: PositiveSeconds = 30.0
    device: Literal["cpu", "cuda"] = "cpu"
    # What the model forecasts: the residual against the classical line, or the raw offset series.
    forecast_target: Literal["residual", "offset"] = "residual"
    local_files_only: bool = False


class FusionSection(_Strict):
    enabled: bool = True
    method: Literal["inverse_variance_weighting"] = "inverse_variance_weighting"
    # Back-tested forecasts per predictor that the fusion weighs (fusion.py).
    backtest_window: Annotated[int, Field(ge=4, le=1024)] = 128


class PerformanceSection(_Strict):
    batch_size: Annotated[int, Field(ge=1, le=64)] = 1
    cache_size: Annotated[int, Field(ge=0, le=1024)] = 5
    max_memory_mb: Annotated[int, Field(ge=64, le=1 << 20)] = 2048
    # torch threads for inference; 1 keeps a forecast from competing with the publish loop.
    inference_threads: Annotated[int, Field(ge=1, le=256)] = 1


class EstimatorSection(_Strict):
    """The classical model's physics, not tuning knobs for one trace."""

    history: Annotated[int, Field(ge=8, le=1024)] = 64
    min_samples: Annotated[int, Field(ge=2, le=64)] = 4
    asymmetry_fraction: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.5
    wander_ppm: Annotated[float, Field(ge=0, le=500, allow_inf_nan=False)] = 1.0
    max_step_seconds: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 1.0
    # The hard bound's allowance for the clock's frequency error beyond the model's drift
    # (ClockBound's own default is 15 ppm).
    max_drift_ppm: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] = 15.0


class DaemonSection(_Strict):
    freq_hz: Annotated[float, Field(ge=1, le=1000, allow_inf_nan=False)] = 100.0
    shm_path: str = DEFAULT_PATH
    shm_mode: str = "0644"
    shm_group: str | None = None
    cpu_affinity: list[Annotated[int, Field(ge=0)]] = []
    # SCHED_FIFO priority of the C heartbeat thread, so that busy cores do not delay its ticks;
    # 0: normal scheduling. Without the right to it (root, CAP_SYS_NICE or RLIMIT_RTPRIO), normal.
    heartbeat_priority: Annotated[int, Field(ge=0, le=99)] = 1
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Clients call the data void (UNKNOWN) this long after the daemon's last publish.
    void_after_seconds: PositiveSeconds = 600.0
    # Prometheus endpoint (extra `metrics`); off unless a port is given. Loopback unless told.
    metrics_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    metrics_address: str = "127.0.0.1"
    # FREE_RUNNING once no sample was accepted for this many measurement intervals.
    free_running_after_intervals: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False)] = 3.0

    @field_validator("shm_mode")
    @classmethod
    def _octal_mode(cls, v: str) -> str:
        try:
            mode = int(v, 8)
        except ValueError:
            raise ValueError("must be an octal mode such as '0644'") from None
        if mode & ~0o644 or not mode & 0o600 == 0o600:
            raise ValueError(
                "must give the owner read/write, others at most read, and nothing executable "
                "(only the daemon writes the segment), e.g. '0644' or '0640'"
            )
        return v

    @property
    def mode(self) -> int:
        return int(self.shm_mode, 8)


class ClockBoundSection(_Strict):
    """A ClockBound-compatible segment (protocol v2) for ClockBound's clients; off unless given."""

    path: str = "/var/run/clockbound/shm0"


class ChronoTickConfig(_Strict):
    clock: ClockSection = ClockSection()
    clock_measurement: ClockMeasurement
    short_term: ModelSection = ModelSection(prediction_horizon=30, inference_interval=30.0)
    long_term: ModelSection = ModelSection(prediction_horizon=60, inference_interval=300.0)
    fusion: FusionSection = FusionSection()
    performance: PerformanceSection = PerformanceSection()
    estimator: EstimatorSection = EstimatorSection()
    daemon: DaemonSection = DaemonSection()
    clockbound: ClockBoundSection | None = None

    @model_validator(mode="after")
    def _finite(self) -> ChronoTickConfig:
        timing = self.clock_measurement.timing
        if not math.isfinite(timing.warm_up.duration_seconds):
            raise ValueError("clock_measurement.timing.warm_up.duration_seconds must be finite")
        return self


def default_config_text() -> str:
    return resources.files("chronotick_engine").joinpath("default_config.yaml").read_text()


_TAGS = {"string", "mapping"}  # the server entry's union branches: not keys a user wrote


def _one_line(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    err["loc"] = tuple(p for p in err["loc"] if p not in _TAGS)
    path = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        parent = ".".join(str(p) for p in err["loc"][:-1]) or "top level"
        return f"{source}: unknown key '{err['loc'][-1]}' in {parent}"
    if err["type"] == "missing":
        return f"{source}: missing required key {path}"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {path}: {err['msg']}{more}"


def parse_config(data: object, source: str = "config") -> ChronoTickConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    try:
        return ChronoTickConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, source)) from None


def merge_over(base: object, override: object) -> object:
    """`override` laid over `base`: mappings merge key by key, anything else (lists included)
    replaces. Neither argument is changed."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_over(base[key], value) if key in base else value
        return merged
    return override


MAX_CONFIG_BYTES = 1024 * 1024


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML's safe loader, refusing a key given twice in one mapping (the later would silently win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise ConfigError(
                    f"key '{str(key)[:80]}' is given twice (line {key_node.start_mark.line + 1})"
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _UniqueKeyLoader.construct_mapping
)


def _read_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506  (a safe loader)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: invalid YAML{where}") from None


def load_config(path: str | Path | None) -> ChronoTickConfig:
    """The shipped default config, with the file at `path` (if any) laid over it: a file that sets
    one key inherits every other from the default. Mappings merge; lists replace."""
    defaults = _read_yaml(default_config_text(), "default config")
    if path is None:
        return parse_config(defaults, "default config")
    source = str(path)
    try:
        text = read_bounded(source, MAX_CONFIG_BYTES, "config").decode()
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file") from None
    except UnsafeFile as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    data = _read_yaml(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    return parse_config(merge_over(defaults, data), source)


def config_yaml(cfg: ChronoTickConfig) -> str:
    """A config as YAML that load_config reads back to the same config."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
