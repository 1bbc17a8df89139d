from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import grpc
import pytest

from bridge.exporters.base import ExportError, ExportRequest, Signal
from bridge.exporters.otlp import OTLPExporter
from bridge.exporters.otlp.config import OTLPExporterConfig
from bridge.exporters.otlphttp import OTLPHTTPExporter
from bridge.exporters.otlphttp.config import OTLPHTTPExporterConfig
from bridge.exporters.queue import QueuedExporter
from bridge.exporters.shared_config import QueueConfig, RetryConfig, TLSClientConfig
from bridge.telemetry import SELF
from tests.exporters import otlp_data
from tests.support.otlp_sink import OTLPSink
from tests.support.polling import eventually

FAST = RetryConfig(initial_interval=0.01, max_interval=0.05, max_elapsed_time=10.0)
# One request per send, by one consumer: what these tests pin down (batching and concurrent
# consumers have their own tests in test_queue_batch.py).
ONE_BY_ONE = QueueConfig(num_consumers=1, batch=None)
SPANS = 4  # in otlp_data.traces()


def grpc_queue(
    sink: OTLPSink, name: str = "otlp/q", queue: QueueConfig = ONE_BY_ONE, retry: RetryConfig = FAST
) -> QueuedExporter:
    config = OTLPExporterConfig(endpoint=sink.grpc_endpoint, tls=TLSClientConfig(insecure=True), timeout=2.0)
    return QueuedExporter(OTLPExporter(name, config), queue, retry)


def http_queue(endpoint: str, name: str, queue: QueueConfig = ONE_BY_ONE) -> QueuedExporter:
    config = OTLPHTTPExporterConfig(endpoint=endpoint, timeout=5.0)
    return QueuedExporter(OTLPHTTPExporter(name, config), queue, FAST)


def count(name: str, **labels: str) -> float:
    return SELF.get(name, **labels)


def exported(exporter: str) -> float:
    return count("als_bridge_exported_items_total", exporter=exporter, signal="traces")


def dropped(exporter: str, reason: str, signal: str = "traces") -> float:
    return count("als_bridge_dropped_items_total", exporter=exporter, signal=signal, reason=reason)


class Scripted:
    """An exporter that fails as told, then succeeds; records when each attempt happened."""

    def __init__(self, *failures: Exception) -> None:
        self.name = "fake/scripted"
        self.failures = list(failures)
        self.attempts: list[float] = []
        self.closed = False

    def send(self, signal: Signal, request: ExportRequest) -> None:
        self.attempts.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)

    def shutdown(self) -> None:
        self.closed = True


@pytest.fixture
def hanging_endpoint() -> Iterator[str]:
    """A port that accepts connections and never answers: the slowest possible backend."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_retries_then_succeeds(sink: OTLPSink) -> None:
    sink.fail_next(2, grpc.StatusCode.UNAVAILABLE)
    queue = grpc_queue(sink)
    assert queue.submit(Signal.TRACES, otlp_data.traces())
    assert eventually(lambda: exported("otlp/q") == SPANS)
    assert [r.outcome for r in sink.received] == ["UNAVAILABLE", "UNAVAILABLE", "ok"]
    assert count("als_bridge_export_retries_total", exporter="otlp/q", signal="traces") == 2
    assert count("als_bridge_export_failed_items_total") == 0
    assert queue.shutdown(1.0)


def test_retry_after_is_honoured(sink: OTLPSink) -> None:
    sink.fail_next(1, http_status=429, retry_after=0.3)
    queue = http_queue(sink.http_endpoint, "otlphttp/q")
    started = time.monotonic()
    queue.submit(Signal.TRACES, otlp_data.traces())
    assert eventually(lambda: exported("otlphttp/q") == SPANS)
    assert time.monotonic() - started >= 0.3
    queue.shutdown(1.0)


def test_backoff_grows_and_retry_after_is_a_minimum() -> None:
    retry = ExportError("busy", retryable=True)
    fake = Scripted(retry, retry, retry, ExportError("slow down", retryable=True, retry_after=0.3))
    queue = QueuedExporter(
        fake,
        ONE_BY_ONE,
        RetryConfig(initial_interval=0.05, max_interval=0.12, multiplier=2.0, randomization_factor=0.0),
    )
    queue.submit(Signal.LOGS, otlp_data.logs())
    assert eventually(lambda: len(fake.attempts) == 5)
    gaps = [b - a for a, b in zip(fake.attempts, fake.attempts[1:], strict=False)]
    assert 0.05 <= gaps[0] < 0.09
    assert 0.10 <= gaps[1] < 0.19
    assert 0.12 <= gaps[2] < 0.19  # capped at max_interval, not 0.2
    assert gaps[3] >= 0.3  # the backend asked for longer than the backoff
    queue.shutdown(1.0)


def test_permanent_error_is_counted_as_failed_without_retry(sink: OTLPSink) -> None:
    sink.fail_next(1, grpc.StatusCode.INVALID_ARGUMENT)
    queue = grpc_queue(sink)
    queue.submit(Signal.TRACES, otlp_data.traces())
    failed = {"exporter": "otlp/q", "signal": "traces", "reason": "permanent_error"}
    assert eventually(lambda: count("als_bridge_export_failed_items_total", **failed) == SPANS)
    assert len(sink.received) == 1 and exported("otlp/q") == 0
    queue.shutdown(1.0)


def test_gives_up_after_max_elapsed_time(sink: OTLPSink) -> None:
    sink.set_down(True)
    queue = grpc_queue(sink, retry=replace(FAST, max_elapsed_time=0.2))
    queue.submit(Signal.TRACES, otlp_data.traces())
    failed = {"exporter": "otlp/q", "signal": "traces", "reason": "retries_exhausted"}
    assert eventually(lambda: count("als_bridge_export_failed_items_total", **failed) == SPANS)
    assert queue.queue_length == 0
    queue.shutdown(1.0)


def test_full_queue_drops_and_counts_exactly(sink: OTLPSink) -> None:
    sink.set_down(True)
    queue = grpc_queue(
        sink, queue=replace(ONE_BY_ONE, queue_size=10)
    )  # room for two requests of 4 spans, the one in flight included
    accepted = [queue.submit(Signal.TRACES, otlp_data.traces()) for _ in range(8)]
    assert accepted == [True, True] + [False] * 6
    assert dropped("otlp/q", "queue_full") == 6 * SPANS
    assert count("als_bridge_queue_length", exporter="otlp/q") == 2 * SPANS

    sink.set_down(False)
    assert eventually(lambda: exported("otlp/q") == 2 * SPANS)
    assert count("als_bridge_queue_length", exporter="otlp/q") == 0
    assert queue.submit(Signal.TRACES, otlp_data.traces())  # room again
    assert queue.shutdown(2.0)
    assert exported("otlp/q") == 3 * SPANS
    assert count("als_bridge_dropped_items_total") == 6 * SPANS
    assert count("als_bridge_export_failed_items_total") == 0


def test_byte_limit_and_oversized_requests() -> None:
    blocked = threading.Event()

    class Blocking(Scripted):
        def send(self, signal: Signal, request: ExportRequest) -> None:
            blocked.wait(5)

    request = otlp_data.traces()
    queue = QueuedExporter(
        Blocking(), replace(ONE_BY_ONE, queue_size=0, max_bytes=int(request.ByteSize() * 1.5))
    )
    assert queue.submit(Signal.TRACES, request)
    assert not queue.submit(Signal.TRACES, request)  # does not fit next to the first
    assert not queue.submit(Signal.TRACES, otlp_data.traces(spans_per_resource=50))  # never fits
    assert dropped("fake/scripted", "queue_full") == 4
    assert dropped("fake/scripted", "too_large") == 100
    blocked.set()
    assert queue.shutdown(2.0)


def test_a_hanging_exporter_stalls_neither_the_caller_nor_another_exporter(
    sink: OTLPSink, hanging_endpoint: str
) -> None:
    stuck = http_queue(hanging_endpoint, "otlphttp/stuck", replace(ONE_BY_ONE, queue_size=20))
    healthy = grpc_queue(sink, "otlp/healthy")
    started = time.monotonic()
    for _ in range(20):
        stuck.submit(Signal.TRACES, otlp_data.traces())
        healthy.submit(Signal.TRACES, otlp_data.traces())
    assert time.monotonic() - started < 0.5  # submit never waits for a backend
    assert eventually(lambda: exported("otlp/healthy") == 20 * SPANS, timeout=3.0)
    assert exported("otlphttp/stuck") == 0
    assert dropped("otlphttp/stuck", "queue_full") == 15 * SPANS
    assert healthy.shutdown(2.0)
    assert not stuck.shutdown(0.1)


def test_shutdown_drains_the_queue(sink: OTLPSink) -> None:
    queue = grpc_queue(sink)
    for _ in range(5):
        queue.submit(Signal.TRACES, otlp_data.traces())
    queue.submit(Signal.LOGS, otlp_data.logs())
    assert queue.shutdown(5.0)
    assert len(sink.traces) == 5 and len(sink.logs) == 1
    assert exported("otlp/q") == 5 * SPANS
    assert count("als_bridge_queue_length", exporter="otlp/q") == 0
    assert not queue.submit(Signal.TRACES, otlp_data.traces())  # closed
    assert dropped("otlp/q", "shutdown") == SPANS


def test_shutdown_timeout_drops_the_rest_and_closes_the_exporter() -> None:
    fake = Scripted(*[ExportError("down", retryable=True)] * 1000)
    queue = QueuedExporter(fake, ONE_BY_ONE, RetryConfig(initial_interval=0.05, max_interval=0.05))
    for _ in range(3):
        queue.submit(Signal.TRACES, otlp_data.traces())
    started = time.monotonic()
    assert not queue.shutdown(0.2)
    assert time.monotonic() - started < 0.5
    assert fake.closed
    assert eventually(lambda: dropped("fake/scripted", "shutdown") == 3 * SPANS)
    assert eventually(lambda: queue.queue_length == 0)
    assert count("als_bridge_exported_items_total") == count("als_bridge_export_failed_items_total") == 0


def test_an_exporter_bug_fails_one_request_and_the_worker_carries_on() -> None:
    fake = Scripted(RuntimeError("bug"))
    queue = QueuedExporter(fake, ONE_BY_ONE, FAST)
    queue.submit(Signal.METRICS, otlp_data.metrics(points=2))
    queue.submit(Signal.METRICS, otlp_data.metrics(points=2))
    assert queue.shutdown(1.0)
    labels = {"exporter": "fake/scripted", "signal": "metrics"}
    assert count("als_bridge_export_failed_items_total", reason="internal_error", **labels) == 3
    assert count("als_bridge_exported_items_total", **labels) == 3
