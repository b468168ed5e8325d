"""Prometheus endpoint for the daemon (optional extra `metrics`), loopback by default.

Values are read from the daemon's status at scrape time, so the publish loop does no extra work
and the endpoint can never disagree with the status file or the segment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from chronotick_engine.errors import ConfigError
from chronotick_engine.protocol.codec import Status
from chronotick_engine.protocol.detail import DaemonDetail

STATUSES = [s.name for s in Status]


class _DaemonCollector:
    def __init__(self, status: Callable[[], DaemonDetail]):
        self._status = status

    def describe(self) -> list:
        return []  # collected live; nothing to pre-register

    def collect(self) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        st = self._status()

        def gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily | None:
            return None if value is None else GaugeMetricFamily(name, doc, value=value)

        state = GaugeMetricFamily("chronotick_status", "1 for the daemon's current status", labels=["status"])
        for name in STATUSES:
            state.add_metric([name], 1.0 if st.status == name else 0.0)
        yield state
        ms = 1e-3
        for metric in (
            gauge(
                "chronotick_offset_seconds",
                "reference minus local clock",
                st.offset_ms and st.offset_ms * ms,
            ),
            gauge("chronotick_drift_ppm", "local clock frequency error", st.drift_ppm),
            gauge(
                "chronotick_uncertainty_seconds",
                "95% half-width at the anchor",
                st.uncertainty_ms and st.uncertainty_ms * ms,
            ),
            gauge("chronotick_uptime_seconds", "daemon uptime", st.uptime_s),
            gauge("chronotick_publish_rate_hz", "measured publish rate", st.publish.rate_hz),
            gauge(
                "chronotick_publish_latency_seconds",
                "mean time to build and publish one snapshot",
                st.publish.latency_ms * ms,
            ),
            gauge(
                "chronotick_publish_period_error_p99_seconds",
                "p99 |actual - nominal| publish period, last 1024 ticks",
                st.publish.period_error_p99_ms and st.publish.period_error_p99_ms * ms,
            ),
            gauge(
                "chronotick_model_inference_p50_seconds",
                "TimesFM inference latency, median",
                st.models.inference_ms_p50 and st.models.inference_ms_p50 * ms,
            ),
            gauge(
                "chronotick_model_inference_p99_seconds",
                "TimesFM inference latency, p99",
                st.models.inference_ms_p99 and st.models.inference_ms_p99 * ms,
            ),
            gauge(
                "chronotick_models_ready",
                "1 when TimesFM forecasters are in use",
                float(st.models.ready),
            ),
            gauge(
                "chronotick_hard_bound_seconds",
                "worst-case |true time - CLOCK_REALTIME| now (ClockBound's bound)",
                st.hard_bound_ms and st.hard_bound_ms * ms,
            ),
            gauge(
                "chronotick_chrony_nts_disagreement_seconds",
                "gap between chronyd's hard interval and the NTS-authenticated one (0: they overlap)",
                _guard_gap_ms(st) and _guard_gap_ms(st) * ms,
            ),
        ):
            if metric is not None:
                yield metric
        yield CounterMetricFamily(
            "chronotick_samples_accepted", "NTP samples accepted by the model", value=st.samples_accepted
        )
        yield CounterMetricFamily(
            "chronotick_samples_rejected", "NTP samples rejected by the model", value=st.samples_rejected
        )
        reach = GaugeMetricFamily(
            "chronotick_server_reach", "reachability register, 0-255", labels=["server"]
        )
        delay = GaugeMetricFamily(
            "chronotick_server_delay_seconds", "last round-trip delay", labels=["server"]
        )
        rejects = CounterMetricFamily(
            "chronotick_server_rejects", "replies rejected, by reason", labels=["server", "reason"]
        )
        authenticated = GaugeMetricFamily(
            "chronotick_server_authenticated",
            "1 when the server's last accepted reply passed NTS verification",
            labels=["server"],
        )
        cookies = GaugeMetricFamily(
            "chronotick_server_nts_cookies", "NTS cookies on hand (NTS servers only)", labels=["server"]
        )
        key_exchanges = CounterMetricFamily(
            "chronotick_server_nts_key_exchanges", "successful NTS-KE sessions", labels=["server"]
        )
        for srv in st.servers:
            authenticated.add_metric([srv.server], float(srv.authenticated))
            if srv.nts:
                cookies.add_metric([srv.server], srv.nts_cookies or 0)
                key_exchanges.add_metric([srv.server], srv.nts_key_exchanges or 0)
            reach.add_metric([srv.server], int(srv.reach, 8))
            if srv.last_delay_ms is not None:
                delay.add_metric([srv.server], srv.last_delay_ms * ms)
            for reason, n in srv.rejects.items():
                rejects.add_metric([srv.server, reason], n)
        yield reach
        yield delay
        yield rejects
        yield authenticated
        yield cookies
        yield key_exchanges


def _guard_gap_ms(st: DaemonDetail) -> float | None:
    guard = st.chrony.nts_guard if st.chrony is not None else None
    return None if guard is None else guard.disagreement_ms


def start_metrics_server(status: Callable[[], DaemonDetail], port: int, address: str = "127.0.0.1") -> object:
    """Serve /metrics on address:port; ConfigError in one line if the extra or the port is missing."""
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise ConfigError(
            "--metrics-port needs prometheus-client: pip install 'chronotick[metrics]'"
        ) from None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DaemonCollector(status))
    try:
        server, _thread = start_http_server(port, addr=address, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {address}:{port}: {exc.strerror or exc}") from None
    return server
