"""`sending_queue` and `retry_on_failure` as the service applies them, and `on_full: block` signalling."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import grpc
import pytest

from bridge.exporters.base import ExportError, ExportRequest, Signal
from bridge.exporters.debug.config import DebugExporterConfig
from bridge.exporters.otlp import OTLPExporter
from bridge.exporters.otlp.config import OTLPExporterConfig
from bridge.exporters.otlphttp import OTLPHTTPExporter
from bridge.exporters.otlphttp.config import OTLPHTTPExporterConfig
from bridge.exporters.persistent import FileQueue, StorageLockedError
from bridge.exporters.queue import QueuedExporter, build_queued_exporter, storage_directory, wait_for_room
from bridge.exporters.shared_config import QueueConfig, RetryConfig, TLSClientConfig
from bridge.telemetry import SELF
from tests.exporters import otlp_data
from tests.support.otlp_sink import OTLPSink

SPANS = 4  # in otlp_data.traces()


class Gate:
    """An exporter that holds each request until `open` is set; counts attempts, may fail first."""

    def __init__(self, *failures: Exception) -> None:
        self.name = "fake/gate"
        self.open = threading.Event()
        self.failures = list(failures)
        self.attempts = 0
        self.closed = False

    def send(self, signal: Signal, request: ExportRequest) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.open.wait(10)

    def shutdown(self) -> None:
        self.closed = True
        self.open.set()


def failed(exporter: str, reason: str) -> float:
    return SELF.get("als_bridge_export_failed_items_total", exporter=exporter, signal="traces", reason=reason)


def dropped(exporter: str, reason: str) -> float:
    return SELF.get("als_bridge_dropped_items_total", exporter=exporter, signal="traces", reason=reason)


# -- build_queued_exporter -----------------------------------------------------------------


def test_the_config_reaches_the_queue(tmp_path: Path) -> None:
    config = OTLPHTTPExporterConfig(
        sending_queue=QueueConfig(
            queue_size=123,
            max_bytes=4567,
            on_full="block",
            storage="file",
            directory=str(tmp_path),
            max_disk_bytes=8910,
        ),
        retry_on_failure=RetryConfig(
            initial_interval=0.1,
            max_interval=0.2,
            max_elapsed_time=3.0,
            multiplier=2.0,
            randomization_factor=0.1,
        ),
    )
    queue = build_queued_exporter(OTLPHTTPExporter("otlphttp/a/b", config), config)
    memory, retry = queue.memory, queue.retry.config
    assert (memory.max_items, memory.max_bytes, memory.max_requests, queue.blocks_when_full) == (
        123,
        4567,
        0,
        True,
    )
    assert (retry.initial_interval, retry.max_interval, retry.max_elapsed_time) == (0.1, 0.2, 3.0)
    assert (retry.multiplier, retry.randomization_factor, retry.enabled) == (2.0, 0.1, True)
    assert queue.window is not None and queue.window.storage.max_bytes == 8910
    assert queue.window.storage.directory == tmp_path / "otlphttp_a_b"
    assert (tmp_path / "otlphttp_a_b" / "lock").exists()
    assert queue.shutdown(1.0)


def test_debug_and_defaults_get_the_default_memory_queue() -> None:
    from bridge.exporters.debug.exporter import DebugExporter

    queue = build_queued_exporter(DebugExporter("debug", DebugExporterConfig()), DebugExporterConfig())
    memory, retry = queue.memory, queue.retry.config
    assert (memory.max_items, memory.max_bytes, queue.window, queue.blocks_when_full) == (
        50_000,
        64 * 1024 * 1024,
        None,
        False,
    )
    assert (retry.initial_interval, retry.max_interval, retry.max_elapsed_time) == (0.5, 5.0, 60.0)
    assert queue.shutdown(1.0)


def test_a_locked_directory_is_a_clear_error_and_closes_the_exporter(tmp_path: Path) -> None:
    holder = FileQueue(storage_directory(str(tmp_path), "fake/gate"), 1 << 20)
    gate = Gate()
    config = OTLPExporterConfig(sending_queue=QueueConfig(storage="file", directory=str(tmp_path)))
    with pytest.raises(StorageLockedError, match="give each als-bridge its own directory"):
        build_queued_exporter(gate, config)
    assert gate.closed
    holder.close()


# -- retry_on_failure ------------------------------------------------------------------------


def test_max_elapsed_time_from_the_config_gives_up_and_counts_failed(sink: OTLPSink) -> None:
    sink.set_down(True)
    config = OTLPExporterConfig(
        endpoint=sink.grpc_endpoint,
        tls=TLSClientConfig(insecure=True),
        timeout=0.5,
        retry_on_failure=RetryConfig(initial_interval=0.05, max_interval=0.1, max_elapsed_time=0.5),
    )
    queue = build_queued_exporter(OTLPExporter("otlp/r", config), config)
    started = time.monotonic()
    queue.submit(Signal.TRACES, otlp_data.traces())
    assert sink.wait_for(lambda: failed("otlp/r", "retries_exhausted") == SPANS, timeout=5.0)
    assert 0.3 <= time.monotonic() - started < 2.5
    assert SELF.get("als_bridge_export_retries_total", exporter="otlp/r", signal="traces") >= 2
    assert queue.shutdown(1.0)


def test_retry_disabled_gives_up_at_the_first_failure(sink: OTLPSink) -> None:
    sink.fail_next(1, grpc.StatusCode.UNAVAILABLE)
    config = OTLPExporterConfig(
        endpoint=sink.grpc_endpoint,
        tls=TLSClientConfig(insecure=True),
        retry_on_failure=RetryConfig(enabled=False),
    )
    queue = build_queued_exporter(OTLPExporter("otlp/once", config), config)
    queue.submit(Signal.TRACES, otlp_data.traces())
    assert queue.shutdown(2.0)
    assert failed("otlp/once", "retry_disabled") == SPANS
    assert len(sink.received) == 1
    assert SELF.get("als_bridge_export_retries_total") == 0


# -- sending_queue.enabled: false ------------------------------------------------------------


def test_queue_disabled_holds_only_the_request_being_sent() -> None:
    gate = Gate()
    config = OTLPExporterConfig(sending_queue=QueueConfig(enabled=False))
    queue = build_queued_exporter(gate, config)
    assert queue.submit(Signal.TRACES, otlp_data.traces())
    assert not queue.submit(Signal.TRACES, otlp_data.traces())
    assert dropped("fake/gate", "queue_full") == SPANS
    gate.open.set()
    assert queue.shutdown(2.0)


# -- on_full: block --------------------------------------------------------------------------


def test_block_signals_capacity_and_wakes_a_waiting_loop() -> None:
    gate = Gate()
    queue = QueuedExporter(gate, QueueConfig(queue_size=6, on_full="block"))
    assert queue.has_capacity()
    assert queue.submit(Signal.TRACES, otlp_data.traces())  # 4 of 6
    assert queue.has_capacity()
    assert queue.submit(Signal.TRACES, otlp_data.traces())  # 8 of 6: read before the queue filled
    assert not queue.has_capacity()
    assert not queue.submit(Signal.TRACES, otlp_data.traces())  # the receiver should have waited
    assert dropped("fake/gate", "queue_full") == SPANS

    async def scenario() -> tuple[bool, bool, float]:
        timed_out = await queue.wait_for_capacity(0.05)
        started = time.monotonic()
        waiting = asyncio.create_task(wait_for_room([queue], timeout=5.0))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        gate.open.set()  # the worker sends both requests and makes room
        resumed = await waiting
        return timed_out, resumed, time.monotonic() - started

    timed_out, resumed, waited = asyncio.run(scenario())
    assert not timed_out and resumed
    assert waited < 1.0
    assert queue.has_capacity()
    assert queue.shutdown(2.0)
    assert not queue._waiters


def test_wait_for_room_ignores_exporters_that_drop() -> None:
    gate = Gate()
    dropping = QueuedExporter(gate, QueueConfig(queue_size=4))
    dropping.submit(Signal.TRACES, otlp_data.traces())
    assert not dropping.has_capacity()
    assert asyncio.run(wait_for_room([dropping], timeout=0.01))
    gate.open.set()
    assert dropping.shutdown(2.0)


def test_shutdown_releases_whoever_waits_for_capacity() -> None:
    gate = Gate()
    queue = QueuedExporter(gate, QueueConfig(queue_size=4, on_full="block"))
    queue.submit(Signal.TRACES, otlp_data.traces())

    async def scenario() -> bool:
        waiting = asyncio.create_task(queue.wait_for_capacity(5.0))
        await asyncio.sleep(0.05)
        await asyncio.to_thread(queue.shutdown, 0.05)
        return await waiting

    started = time.monotonic()
    assert asyncio.run(scenario())
    assert time.monotonic() - started < 1.0


def test_block_with_storage_signals_the_disk_bound(tmp_path: Path) -> None:
    gate = Gate()
    request = otlp_data.logs()
    size = 20 + request.ByteSize()
    queue = QueuedExporter(
        gate, QueueConfig(on_full="block"), storage=FileQueue(tmp_path, int(size * 1.5), gate.name)
    )
    assert queue.submit(Signal.LOGS, request)
    assert queue.has_capacity()
    assert queue.submit(Signal.LOGS, request)  # over the cap by one request, as block allows
    assert not queue.has_capacity()
    assert not queue.submit(Signal.LOGS, request)
    assert (
        SELF.get("als_bridge_dropped_items_total", exporter=gate.name, signal="logs", reason="disk_full") == 2
    )
    gate.open.set()
    assert queue.shutdown(2.0)


def test_an_exporter_error_on_retry_after_is_still_a_minimum_under_config() -> None:
    """`retry_after` beats a short configured interval (the backend knows best)."""
    gate = Gate(ExportError("slow down", retryable=True, retry_after=0.2))
    gate.open.set()
    config = OTLPExporterConfig(retry_on_failure=RetryConfig(initial_interval=0.01, max_interval=0.01))
    queue = build_queued_exporter(gate, config)
    started = time.monotonic()
    queue.submit(Signal.TRACES, otlp_data.traces())
    assert queue.shutdown(2.0)
    assert time.monotonic() - started >= 0.2
    assert gate.attempts == 2


def test_a_cancelled_wait_leaves_no_waiter_behind() -> None:
    gate = Gate()
    queue = QueuedExporter(gate, QueueConfig(queue_size=4, on_full="block"))
    queue.submit(Signal.TRACES, otlp_data.traces())

    async def scenario() -> None:
        waiting = asyncio.create_task(queue.wait_for_capacity())
        await asyncio.sleep(0.02)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(scenario())
    assert queue._waiters == []
    gate.open.set()
    assert queue.shutdown(2.0)
