"""Real Envoy sidecars -> the bridge with span samplers -> what reached the trace sink and the
metric store.

Every call carries a `traceparent` with a trace id the test chose (or none, so that the bridge
derives it from Envoy's request id), so the test knows the decision each call must get: kept
when the trace id's randomness R (its last 7 bytes) reaches the threshold T. Two bridge
processes, one given each sidecar's entries as two replicas would be, must decide alike.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from bridge.config.model import ComponentID
from bridge.demo import Mesh
from bridge.demo import _envoy_config as demo_config
from bridge.spans.probability import randomness_of, threshold_for
from tests.reliability.bridge_process import BridgeProcess, bridge_process
from tests.support.backends import Prometheus, VictoriaMetrics
from tests.support.bridge import running_bridge
from tests.support.otlp_sink import OTLPSink

pytestmark = [pytest.mark.envoy, pytest.mark.backends, pytest.mark.slow]

CLIENT, SERVER = 3, 2  # OTLP span kinds
HALF = threshold_for(50)


def traceparent(trace_id: bytes) -> str:
    return f"00-{trace_id.hex()}-{os.urandom(8).hex()}-01"


def kept(trace_id: bytes, percentage: float) -> bool:
    return randomness_of(trace_id) >= threshold_for(percentage)


def six_sigma(n: int, p: float) -> tuple[float, float]:
    """A bound on a binomial count that a correct sampler leaves once in ~10^9 runs."""
    spread = 6 * math.sqrt(n * p * (1 - p))
    return n * p - spread, n * p + spread


def kinds_by_trace(sink: OTLPSink) -> dict[bytes, list[int]]:
    found: dict[bytes, list[int]] = defaultdict(list)
    for _, span in sink.spans():
        found[span.trace_id].append(span.kind)
    return found


def sampler_config(
    sampler: dict[str, Any], otlp: str, *, metrics: dict[str, Any] | None = None, logs: bool = False
) -> dict[str, Any]:
    """Traces through `sampler` (and `batch`) to the sink; a metrics pipeline when given."""
    (sampler_type,) = sampler
    exporters: dict[str, Any] = {"otlp": {"endpoint": otlp, "tls": {"insecure": True}}}
    pipelines: dict[str, Any] = {
        "traces": {"receivers": ["envoy_als"], "processors": [sampler_type, "batch"], "exporters": ["otlp"]}
    }
    if metrics:
        exporters.update(metrics)
        pipelines["metrics"] = {"receivers": ["envoy_als"], "exporters": list(metrics)}
    return {
        "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0", "metrics": {"interval": "500ms"}}},
        "processors": {"batch": {"timeout": "100ms"}, **sampler},
        "exporters": exporters,
        "service": {"pipelines": pipelines},
    }


# -- probabilistic_sampler at 50%: one bridge, the metrics in VictoriaMetrics ------------------

WITH_TRACEPARENT, WITH_REQUEST_ID_ONLY = 80, 80


@pytest.fixture(scope="module")
def half_sampled() -> Iterator[tuple[OTLPSink, list[bytes], dict[str, float]]]:
    """Sends the calls; yields the sink, the chosen trace ids and the store's counts."""
    chosen = [os.urandom(16) for _ in range(WITH_TRACEPARENT)]
    total = WITH_TRACEPARENT + WITH_REQUEST_ID_ONLY
    with OTLPSink() as sink, VictoriaMetrics() as vm:
        metrics = {"otlphttp/vm": {"endpoint": "http://127.0.0.1:1", "metrics_endpoint": vm.otlp_metrics_url}}
        config = sampler_config(
            {"probabilistic_sampler": {"sampling_percentage": 50}}, sink.grpc_endpoint, metrics=metrics
        )
        with (
            running_bridge(config) as service,
            Mesh(als_address=f"127.0.0.1:{service.receivers[0].port}") as mesh,
        ):
            for trace_id in chosen:
                assert mesh.http_get("/status/200", headers={"traceparent": traceparent(trace_id)}) == 200
            for _ in range(WITH_REQUEST_ID_ONLY):
                assert mesh.http_get("/status/200") == 200
            counts = {}
            for query in (
                'sum(istio_requests_total{reporter="source"})',
                'sum(istio_requests_total{reporter="destination"})',
                'sum(traces_service_graph_request_total{connection_type=""})',
                'sum(traces_span_metrics_calls_total{span_kind="SPAN_KIND_SERVER"})',
            ):
                result = vm.wait_for_query(query, lambda r: bool(r) and r[0][1] == total, timeout=30)
                counts[query] = result[0][1]
        # the bridge has shut down: every kept span was flushed to the sink
        yield sink, chosen, counts


def test_about_half_of_the_calls_are_kept_each_with_both_spans(
    half_sampled: tuple[OTLPSink, list[bytes], dict[str, float]],
) -> None:
    sink, chosen, _ = half_sampled
    traces = kinds_by_trace(sink)
    total = WITH_TRACEPARENT + WITH_REQUEST_ID_ONLY
    low, high = six_sigma(total, 0.5)
    assert low <= len(traces) <= high, len(traces)
    assert all(sorted(kinds) == [SERVER, CLIENT] for kinds in traces.values())
    assert all(randomness_of(trace_id) >= HALF for trace_id in traces)
    # the calls whose trace id the test chose: exactly those at or over the threshold
    assert {t for t in chosen if t in traces} == {t for t in chosen if kept(t, 50)}
    for _, span in sink.spans():
        assert span.trace_state == "ot=th:8"  # 50%: backends count each kept span twice


def test_the_metrics_in_the_store_count_every_call(
    half_sampled: tuple[OTLPSink, list[bytes], dict[str, float]],
) -> None:
    _, _, counts = half_sampled
    assert set(counts.values()) == {WITH_TRACEPARENT + WITH_REQUEST_ID_ONLY}


# -- two bridge processes, each given one side of every call ---------------------------------


PROMETHEUS = {"prometheus": {"endpoint": "127.0.0.1:0"}}  # the bridges' own counters, scraped


def wait_for_entries(bridge: BridgeProcess, count: int, timeout: float = 30.0) -> None:
    """Until the bridge has received `count` entries (Envoy sends its ALS buffer once a second)."""
    deadline = time.monotonic() + timeout
    while bridge.counter("als_bridge_entries_received_total") < count:
        assert time.monotonic() < deadline, bridge.counter("als_bridge_entries_received_total")
        time.sleep(0.2)


@contextmanager
def two_bridges(config: dict[str, Any], tmp_path: Path) -> Iterator[tuple[BridgeProcess, BridgeProcess]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with bridge_process(config, tmp_path / "a") as one, bridge_process(config, tmp_path / "b") as two:
        yield one, two


def test_two_bridge_processes_given_the_two_sides_decide_alike(tmp_path: Path) -> None:
    chosen = [os.urandom(16) for _ in range(60)]
    with OTLPSink() as sink:
        config = sampler_config(
            {"probabilistic_sampler": {"sampling_percentage": 50}}, sink.grpc_endpoint, metrics=PROMETHEUS
        )
        with two_bridges(config, tmp_path) as (client_side, server_side):
            with Mesh(
                als_address=f"127.0.0.1:{client_side.als_port}",
                server_als_address=f"127.0.0.1:{server_side.als_port}",
            ) as mesh:
                for trace_id in chosen:
                    assert mesh.http_get("/status/200", headers={"traceparent": traceparent(trace_id)}) == 200
                for bridge in (client_side, server_side):
                    wait_for_entries(bridge, len(chosen))
            for bridge in (client_side, server_side):
                assert bridge.terminate()[0] == 0
        traces = kinds_by_trace(sink)
    assert set(traces) == {t for t in chosen if kept(t, 50)}
    assert all(sorted(kinds) == [SERVER, CLIENT] for kinds in traces.values())


# -- tail_sampling: errors, slow and flagged calls on both sides, a share of the rest ---------

TAIL = {
    "tail_sampling": {
        "policies": [
            {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
            {"name": "slow", "type": "latency", "latency": {"threshold_ms": 300}},
            {
                "name": "flagged",
                "type": "string_attribute",
                "string_attribute": {
                    "key": "envoy.response_flags",
                    "values": [".+"],
                    "enabled_regex_matching": True,
                },
            },
            {"name": "rest", "type": "probabilistic", "probabilistic": {"sampling_percentage": 30}},
        ]
    }
}


def cancelled_call(mesh: Mesh, trace_id: bytes) -> None:
    """A caller that gives up after 300 ms on a call that takes 1 s: both sidecars log the
    reset (flag DC, no response code): a flagged failure both sides see."""
    host = f"{demo_config.HTTP_SERVICE_HOST}:{demo_config.HTTP_SERVICE_PORT}"
    request = f"GET /status/200?delay_ms=1000 HTTP/1.1\r\nhost: {host}\r\ntraceparent: {traceparent(trace_id)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", mesh.http_port), timeout=5) as sock:
        sock.sendall(request.encode())
        time.sleep(0.3)


def test_tail_sampling_keeps_errors_slow_and_flagged_calls_on_both_sides_and_a_share_of_the_rest(
    tmp_path: Path,
) -> None:
    calls: dict[str, list[bytes]] = defaultdict(list)

    def new(kind: str) -> bytes:
        trace_id = os.urandom(16)
        calls[kind].append(trace_id)
        return trace_id

    with OTLPSink() as sink:
        config = sampler_config(TAIL, sink.grpc_endpoint, metrics=PROMETHEUS)
        with two_bridges(config, tmp_path) as (client_side, server_side):
            with Mesh(
                als_address=f"127.0.0.1:{client_side.als_port}",
                server_als_address=f"127.0.0.1:{server_side.als_port}",
            ) as mesh:
                for _ in range(40):
                    assert (
                        mesh.http_get("/status/200", headers={"traceparent": traceparent(new("rest"))}) == 200
                    )
                for _ in range(10):
                    metadata = [("traceparent", traceparent(new("rest")))]
                    assert mesh.grpc_lookup("alice", metadata=metadata) == grpc.StatusCode.OK
                for _ in range(4):
                    assert (
                        mesh.http_get("/status/503", headers={"traceparent": traceparent(new("5xx"))}) == 503
                    )
                for _ in range(4):
                    metadata = [("traceparent", traceparent(new("grpc error")))]
                    assert mesh.grpc_lookup("nobody", metadata=metadata) == grpc.StatusCode.NOT_FOUND
                for _ in range(3):
                    headers = {"traceparent": traceparent(new("slow"))}
                    assert mesh.http_get("/status/200?delay_ms=450", headers=headers) == 200
                for _ in range(3):
                    cancelled_call(mesh, new("flagged"))
                for _ in range(2):  # no route: only the caller's sidecar logs it (flag NR)
                    assert (
                        mesh.http_get("/nowhere", headers={"traceparent": traceparent(new("no route"))})
                        == 404
                    )
                calls_made = sum(len(ids) for ids in calls.values())
                wait_for_entries(client_side, calls_made)
                wait_for_entries(server_side, calls_made - len(calls["no route"]))
            for bridge in (client_side, server_side):
                assert bridge.terminate()[0] == 0
        traces = kinds_by_trace(sink)
        states = {span.trace_id: span.trace_state for _, span in sink.spans()}
    for kind in ("5xx", "grpc error", "slow", "flagged"):
        for trace_id in calls[kind]:
            assert sorted(traces.get(trace_id, [])) == [SERVER, CLIENT], kind
            assert states[trace_id] == "ot=th:0", kind  # kept for sure: counted once
    for trace_id in calls["no route"]:
        assert traces.get(trace_id) == [CLIENT]
    rest_kept = {t for t in calls["rest"] if t in traces}
    assert rest_kept == {t for t in calls["rest"] if kept(t, 30)}
    assert all(sorted(traces[t]) == [SERVER, CLIENT] and states[t] == "ot=th:b333" for t in rest_kept)


# -- exemplars: from kept spans only, over OTLP and in the OpenMetrics scrape ------------------

EXEMPLAR_SERIES = (
    "istio_requests_total",
    "istio_request_duration_milliseconds_bucket",
    "traces_span_metrics_calls_total",
    "traces_span_metrics_duration_seconds_bucket",
    "traces_service_graph_request_total",
    "http_server_request_duration_seconds_bucket",
    "rpc_server_call_duration_seconds_bucket",
)


def test_exemplars_over_otlp_and_in_prometheus_name_exported_spans_only() -> None:
    with OTLPSink() as sink:
        config = sampler_config(
            {"probabilistic_sampler": {"sampling_percentage": 50}},
            sink.grpc_endpoint,
            metrics={"prometheus": {"endpoint": "127.0.0.1:0", "enable_open_metrics": True}},
        )
        config["service"]["pipelines"]["metrics"]["exporters"].append("otlp")  # OTLP to the sink too
        started = time.time()
        with running_bridge(config) as service:
            port = service.exporters[ComponentID("prometheus")].exporter.port  # type: ignore[attr-defined]
            with (
                Prometheus([f"127.0.0.1:{port}"], features=("exemplar-storage",)) as prom,
                Mesh(als_address=f"127.0.0.1:{service.receivers[0].port}") as mesh,
            ):
                calls = 0
                for n in range(40):
                    assert mesh.http_get(f"/status/{503 if n % 8 == 0 else 200}") in (200, 503)
                    assert mesh.grpc_lookup("alice" if n % 4 else "nobody") in (
                        grpc.StatusCode.OK,
                        grpc.StatusCode.NOT_FOUND,
                    )
                    calls += 2
                prom.wait_for_query(
                    'sum(istio_requests_total{reporter="destination"})',
                    lambda r: bool(r) and r[0][1] == calls,
                    timeout=30,
                )
                scraped: dict[str, list[tuple[str, str]]] = {}
                for name in EXEMPLAR_SERIES:
                    found = prom.query_exemplars(name, started - 60, time.time() + 60)
                    scraped[name] = [(labels["trace_id"], labels["span_id"]) for _, labels, _ in found]
        # the bridge has shut down: every span it kept is in the sink
        exported = {(span.trace_id.hex(), span.span_id.hex()) for _, span in sink.spans()}
        over_otlp = {
            (e.trace_id.hex(), e.span_id.hex())
            for request in sink.metrics
            for rm in request.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
            for point in [*metric.sum.data_points, *metric.histogram.data_points]
            for e in point.exemplars
        }
    assert 0 < len({t for t, _ in exported}) < calls  # sampled: some calls kept, not all
    assert over_otlp and over_otlp <= exported
    for name, pairs in scraped.items():
        assert pairs, f"no exemplar scraped for {name}"
        assert set(pairs) <= exported, name
