"""`sending_queue.batch` and `num_consumers`: merged sends, partial batches, parallel sends, and
every item counted exactly once across retries, shutdown and the persistent queue."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import grpc

from bridge.exporters.base import ExportError, ExportRequest, Signal, count_items
from bridge.exporters.otlp import OTLPExporter
from bridge.exporters.otlp.config import OTLPExporterConfig
from bridge.exporters.queue import QueuedExporter, storage_directory
from bridge.exporters.queue.batch import MAX_MERGED_BYTES
from bridge.exporters.shared_config import BatchConfig, QueueConfig, RetryConfig, TLSClientConfig
from bridge.telemetry import SELF
from tests.exporters import otlp_data
from tests.exporters.persistent_support import NAME, durable_queue, numbered, received_ids
from tests.support.otlp_sink import OTLPSink
from tests.support.polling import eventually

FAST = RetryConfig(initial_interval=0.02, max_interval=0.05, max_elapsed_time=0)
SPANS = 4  # in otlp_data.traces()


def grpc_queue(sink: OTLPSink, queue: QueueConfig, retry: RetryConfig = FAST) -> QueuedExporter:
    config = OTLPExporterConfig(endpoint=sink.grpc_endpoint, tls=TLSClientConfig(insecure=True), timeout=5.0)
    return QueuedExporter(OTLPExporter("otlp/b", config), queue, retry)


class Recorder:
    """An exporter that records each request's signal, item count and size, and its wire bytes."""

    def __init__(self, *failures: Exception) -> None:
        self.name = "fake/recorder"
        self.sent: list[tuple[Signal, int, int]] = []
        self.failures = list(failures)
        self.lock = threading.Lock()

    def send(self, signal: Signal, request: ExportRequest) -> None:
        with self.lock:
            if self.failures:
                raise self.failures.pop(0)
            self.sent.append((signal, count_items(signal, request), len(request.SerializeToString())))

    def shutdown(self) -> None:
        pass


def books(exporter: str, signal: str = "traces") -> tuple[float, float, float]:
    """(exported, failed, dropped) items of `exporter`, over every reason."""

    def total(name: str) -> float:
        return sum(
            sample.value
            for sample in SELF.snapshot()
            if sample.name == name
            and ("exporter", exporter) in sample.labels
            and ("signal", signal) in sample.labels
        )

    return (
        total("als_bridge_exported_items_total"),
        total("als_bridge_export_failed_items_total"),
        total("als_bridge_dropped_items_total"),
    )


def test_small_requests_are_merged_up_to_max_size(sink: OTLPSink) -> None:
    sink.set_down(True)  # let them pile up, then see how they go out
    queue = grpc_queue(sink, QueueConfig(num_consumers=1, batch=BatchConfig(min_size=8, max_size=12)))
    for _ in range(10):
        assert queue.submit(Signal.TRACES, otlp_data.traces())  # 4 spans each
    time.sleep(0.1)
    sink.set_down(False)
    assert sink.wait_for(lambda: len(sink.spans()) == 40)
    assert queue.shutdown(2.0)
    sizes = sorted(
        sum(len(ss.spans) for rs in r.resource_spans for ss in rs.scope_spans) for r in sink.traces
    )
    assert sum(sizes) == 40 and max(sizes) <= 12
    assert len(sink.traces) <= 5  # 40 spans in requests of at most 12: merged, not one by one
    assert SELF.get("als_bridge_exported_items_total", exporter="otlp/b", signal="traces") == 40


def test_a_merged_request_holds_every_resource_and_span_as_sent(sink: OTLPSink) -> None:
    queue = grpc_queue(sink, QueueConfig(num_consumers=1, batch=BatchConfig(min_size=4 * SPANS)))
    sent = [otlp_data.traces(services=(f"svc-{i}",)) for i in range(4)]  # 2 spans each
    for request in sent:
        queue.submit(Signal.TRACES, request)
    assert queue.shutdown(2.0)
    assert len(sink.traces) == 1
    merged = sink.traces[0]
    assert list(merged.resource_spans) == [rs for request in sent for rs in request.resource_spans]


def test_flush_timeout_sends_a_partial_batch(sink: OTLPSink) -> None:
    queue = grpc_queue(sink, QueueConfig(batch=BatchConfig(flush_timeout=0.5, min_size=1000)))
    started = time.monotonic()
    queue.submit(Signal.TRACES, otlp_data.traces())
    queue.submit(Signal.TRACES, otlp_data.traces())
    time.sleep(0.2)
    assert sink.traces == []  # below min_size and not yet due
    assert sink.wait_for(lambda: len(sink.spans()) == 2 * SPANS, timeout=10)
    assert time.monotonic() - started >= 0.5
    assert len(sink.traces) == 1  # the two, together
    assert queue.shutdown(2.0)


def test_merged_metrics_requests_stay_under_4_mib() -> None:
    recorder = Recorder()
    room = QueueConfig(num_consumers=1, queue_size=10**6, batch=BatchConfig(min_size=10**9))
    queue = QueuedExporter(recorder, room)
    big = otlp_data.metrics(points=9000)  # about 0.3 MiB each
    size, points = big.ByteSize(), count_items(Signal.METRICS, big)
    for _ in range(40):
        assert queue.submit(Signal.METRICS, big)
    assert queue.shutdown(10.0)
    assert sum(items for _, items, _ in recorder.sent) == 40 * points
    assert all(length <= MAX_MERGED_BYTES for _, _, length in recorder.sent)
    assert len(recorder.sent) < 40 and max(length for _, _, length in recorder.sent) > 2 * size


def test_num_consumers_send_in_parallel(sink: OTLPSink) -> None:
    sink.set_delay(0.4)
    queue = grpc_queue(sink, QueueConfig(num_consumers=4, batch=None))
    started = time.monotonic()
    for _ in range(8):
        queue.submit(Signal.TRACES, otlp_data.traces())
    assert sink.wait_for(lambda: len(sink.traces) == 8, timeout=20)
    took = time.monotonic() - started
    assert sink.most_in_flight >= 2  # the sink saw requests overlap
    assert took < 8 * 0.4  # one at a time would take at least 3.2 s
    assert queue.shutdown(2.0)


def test_one_consumer_sends_one_at_a_time(sink: OTLPSink) -> None:
    sink.set_delay(0.1)
    queue = grpc_queue(sink, QueueConfig(num_consumers=1, batch=None))
    for _ in range(4):
        queue.submit(Signal.TRACES, otlp_data.traces())
    assert queue.shutdown(5.0)
    assert len(sink.traces) == 4 and sink.most_in_flight == 1


def test_each_item_counted_once_across_retries_with_merging(sink: OTLPSink) -> None:
    sink.fail_next(3, grpc.StatusCode.UNAVAILABLE)
    queue = grpc_queue(sink, QueueConfig(num_consumers=4, batch=BatchConfig(min_size=20, max_size=40)))
    for i in range(200):
        assert queue.submit(Signal.TRACES, numbered(i))
    assert sink.wait_for(lambda: len(sink.spans()) == 200, timeout=20)
    assert queue.shutdown(2.0)
    assert sorted(received_ids(sink)) == list(range(200))  # each once: a failed merge is resent whole
    assert books("otlp/b") == (200, 0, 0)
    assert SELF.get("als_bridge_export_retries_total", exporter="otlp/b", signal="traces") == 3


def test_each_item_counted_once_when_merged_sends_fail_for_good() -> None:
    recorder = Recorder(*[ExportError("bad", retryable=False)] * 3)
    queue = QueuedExporter(recorder, QueueConfig(num_consumers=3, batch=BatchConfig(min_size=8, max_size=8)))
    for _ in range(30):
        queue.submit(Signal.TRACES, otlp_data.traces())
    assert queue.shutdown(5.0)
    exported, failed, dropped = books("fake/recorder")
    assert exported + failed + dropped == 30 * SPANS
    assert failed > 0 and exported == sum(items for _, items, _ in recorder.sent)


def test_each_item_counted_once_when_shutdown_gives_up() -> None:
    recorder = Recorder(*[ExportError("down", retryable=True)] * 10_000)
    queue = QueuedExporter(
        recorder,
        QueueConfig(num_consumers=3, batch=BatchConfig(min_size=8, max_size=8)),
        RetryConfig(initial_interval=0.05, max_interval=0.05, max_elapsed_time=0),
    )
    for _ in range(25):
        queue.submit(Signal.TRACES, otlp_data.traces())
    time.sleep(0.3)
    assert not queue.shutdown(0.3)
    assert eventually(lambda: books("fake/recorder") == (0, 0, 25 * SPANS))
    assert queue.queue_length == 0


def test_persistent_queue_with_merging_and_consumers_delivers_each_once(
    sink: OTLPSink, tmp_path: Path
) -> None:
    """Merged sends over files: each file deleted once its merge is acknowledged, none sent twice,
    and what is left at a shutdown is sent by the next start and counted there."""
    sink.set_down(True)
    settings: dict[str, Any] = {
        "num_consumers": 4,
        "batch": BatchConfig(flush_timeout=0.05, min_size=10, max_size=10),
        "queue_size": 15,  # most requests are on disk only
    }
    first = durable_queue(sink.grpc_endpoint, tmp_path, **settings)
    for i in range(60):
        assert first.submit(Signal.TRACES, numbered(i))
    time.sleep(0.3)
    first.shutdown(0.3)  # the backend is down: everything stays on disk
    assert books(NAME) == (0, 0, 0)
    assert len(list(storage_directory(str(tmp_path), NAME).glob("*.req"))) == 60

    sink.set_down(False)
    second = durable_queue(sink.grpc_endpoint, tmp_path, **settings)
    for i in range(60, 100):
        assert second.submit(Signal.TRACES, numbered(i))
    assert sink.wait_for(lambda: len(sink.spans()) == 100, timeout=20)
    assert second.shutdown(2.0)
    assert sorted(received_ids(sink)) == list(range(100))
    assert books(NAME) == (100, 0, 0)
    assert max(len(r.resource_spans) for r in sink.traces) > 1  # the files were merged
    assert list(storage_directory(str(tmp_path), NAME).glob("*.req")) == []
