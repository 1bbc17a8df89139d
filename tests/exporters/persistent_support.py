"""Helpers shared by the persistent-queue tests and the child process they kill with SIGKILL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bridge.exporters.otlp import OTLPExporter
from bridge.exporters.otlp.config import OTLPExporterConfig
from bridge.exporters.queue import QueuedExporter, build_queued_exporter
from bridge.exporters.shared_config import QueueConfig, RetryConfig, TLSClientConfig
from tests.support.otlp_sink import OTLPSink

NAME = "otlp/durable"
FAST_RETRY = RetryConfig(initial_interval=0.02, max_interval=0.1, max_elapsed_time=0)  # retry until shutdown
# One request per send, by one consumer, so the order of arrival can be asserted (batching and
# concurrent consumers over the persistent queue have their own tests).
ONE_BY_ONE = QueueConfig(num_consumers=1, batch=None)


def numbered(i: int) -> Any:
    """A request with one span whose trace id is `i`, so every arrival can be told apart."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    scope.spans.add(trace_id=i.to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"), name=f"span {i}")
    return request


def received_ids(sink: OTLPSink) -> list[int]:
    """The number of every span the sink accepted, duplicates included."""
    return [int.from_bytes(span.trace_id, "big") for _, span in sink.spans()]


def exporter_config(endpoint: str, directory: Path | str, **queue: Any) -> OTLPExporterConfig:
    return OTLPExporterConfig(
        endpoint=endpoint,
        tls=TLSClientConfig(insecure=True),
        timeout=1.0,
        sending_queue=QueueConfig(
            storage="file", directory=str(directory), **{"num_consumers": 1, "batch": None, **queue}
        ),
        retry_on_failure=FAST_RETRY,
    )


def durable_queue(endpoint: str, directory: Path | str, **queue: Any) -> QueuedExporter:
    config = exporter_config(endpoint, directory, **queue)
    return build_queued_exporter(OTLPExporter(NAME, config), config)


def window_entries(queue: QueuedExporter) -> list[Any]:
    """The requests of a persistent queue kept parsed in memory."""
    assert queue.window is not None
    return list(queue.window.window.values())
