"""Eight ALS streams sending flat out to a bridge with the minimal config (no `batch` processor),
against a real OTLP receiver that is slower than the bridge.

* `on_full: block`: every entry sent arrives; nothing is dropped, however many streams wait.
* `on_full: drop`: every entry sent is at the sink or counted as dropped; no span is built for
  an entry dropped because the traces queue was full (spans created = spans handed to the
  exporter); and the metric families still count every entry.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.accounting import Accounting, settle
from tests.reliability.bridge_process import BridgeProcess, bridge_process
from tests.support.loadgen import LoadResult, LoadSpec, run_load_sync
from tests.support.otlp_sink import OTLPSink

STREAMS = 8
PER_MESSAGE = 100
ENTRIES = 24_000


def minimal_config(sink: OTLPSink, queue: dict[str, Any]) -> dict[str, Any]:
    """What a user writes first: no batch processor; traces over OTLP, metrics scraped (the scrape
    also carries the bridge's own counters)."""
    return {
        "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0", "metrics": {"interval": "1s"}}},
        "exporters": {
            "otlp": {"endpoint": sink.grpc_endpoint, "tls": {"insecure": True}, "sending_queue": queue},
            "prometheus": {"endpoint": "127.0.0.1:0"},
        },
        "service": {
            "pipelines": {
                "traces": {"receivers": ["envoy_als"], "exporters": ["otlp"]},
                "metrics": {"receivers": ["envoy_als"], "exporters": ["prometheus"]},
            }
        },
    }


def total(bridge: BridgeProcess, name: str, **labels: str) -> float:
    """A counter of the bridge itself (live), over the series whose labels include `labels`."""
    return bridge.counter(name, **labels)


def calls_counted(bridge: BridgeProcess, want: int, timeout: float = 30.0) -> float:
    """The spanmetrics calls over all series (one span per entry with reporters=both), once the
    next metrics interval has carried them to the exporter."""
    deadline = time.monotonic() + timeout
    while True:
        calls = sum(v for (n, _), v in bridge.exposition().items() if n == "traces_span_metrics_calls_total")
        if calls >= want or time.monotonic() > deadline:
            return calls
        time.sleep(0.5)


class Run:
    def __init__(
        self, result: LoadResult, books: Accounting, created: float, queue_full: float, calls: float
    ):
        self.result = result
        self.books = books
        self.spans_created = created
        self.shed_in_receiver = queue_full
        self.calls = calls


def saturate(sink: OTLPSink, queue: dict[str, Any], workdir: Path) -> Run:
    with bridge_process(minimal_config(sink, queue), workdir) as bridge:
        spec = LoadSpec(
            f"127.0.0.1:{bridge.als_port}",
            streams=STREAMS,
            max_entries=ENTRIES,
            duration=0,
            batch=PER_MESSAGE,
            interval=0.0,
            messages_per_stream=10,
            streams_per_channel=1,
        )
        result = run_load_sync(spec)
        books = settle(bridge, sink, result.entries_sent, timeout=90)
        created = total(bridge, "als_bridge_spans_created_total")
        shed = total(bridge, "als_bridge_entries_dropped_total", reason="queue_full", signal="traces")
        calls = calls_counted(bridge, result.entries_sent)
        code, _ = bridge.terminate()
        assert code == 0
    return Run(result, books, created, shed, calls)


@pytest.fixture(scope="module")
def blocking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    with OTLPSink() as sink:
        sink.set_delay(0.05)  # slower than the bridge: the small queue fills and stays full
        queue = {
            "on_full": "block",
            "queue_size": 2000,
            "num_consumers": 2,
            "batch": {"min_size": 1000, "max_size": 1000},
        }
        yield saturate(sink, queue, tmp_path_factory.mktemp("block"))


@pytest.fixture(scope="module")
def dropping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    with OTLPSink() as sink:
        sink.set_delay(0.3)  # a deliberately slow trace backend
        queue = {
            "on_full": "drop",
            "queue_size": 2000,
            "num_consumers": 2,
            "batch": {"min_size": 1000, "max_size": 1000},
        }
        yield saturate(sink, queue, tmp_path_factory.mktemp("drop"))


@pytest.mark.slow
def test_block_with_eight_streams_delivers_every_entry(blocking: Run) -> None:
    assert not blocking.result.errors
    assert blocking.result.entries_sent == ENTRIES
    assert blocking.books.at_sink == ENTRIES, blocking.books
    assert blocking.books.counted_drops == 0, blocking.books
    assert blocking.calls == ENTRIES


@pytest.mark.slow
def test_drop_with_a_slow_backend_accounts_for_every_entry(dropping: Run) -> None:
    books = dropping.books
    assert not dropping.result.errors
    assert books.received == dropping.result.entries_sent == ENTRIES
    assert books.unaccounted == 0, books  # sent = delivered + counted drops
    assert dropping.shed_in_receiver > 0, "the slow backend never filled the queue: the test proves nothing"
    assert books.at_sink < ENTRIES


@pytest.mark.slow
def test_drop_builds_no_span_for_what_it_drops(dropping: Run) -> None:
    books = dropping.books
    # every span created was handed to the exporter: delivered, or dropped/failed there
    assert dropping.spans_created == books.at_sink + books.dropped_before_export + books.export_failed
    assert dropping.spans_created + dropping.shed_in_receiver == ENTRIES


@pytest.mark.slow
def test_drop_keeps_the_metrics_exact(dropping: Run) -> None:
    assert dropping.calls == ENTRIES
