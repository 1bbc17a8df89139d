"""The persistent queue (`sending_queue.storage: file`): outages, restarts, crashes, bad files, limits."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from bridge.exporters.base import ExportRequest, Signal
from bridge.exporters.persistent import (
    CORRUPT,
    HEADER,
    CorruptFileError,
    FileQueue,
    StorageLockedError,
    decode,
    encode,
)
from bridge.exporters.queue import QueuedExporter, storage_directory
from bridge.exporters.shared_config import RetryConfig
from bridge.telemetry import SELF
from tests.exporters import otlp_data
from tests.exporters.persistent_support import (
    NAME,
    ONE_BY_ONE,
    durable_queue,
    numbered,
    received_ids,
    window_entries,
)
from tests.support.otlp_sink import OTLPSink

ROOT = Path(__file__).parents[2]


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.req"))


def dropped(reason: str, signal: str = "traces", exporter: str = NAME) -> float:
    return SELF.get("als_bridge_dropped_items_total", exporter=exporter, signal=signal, reason=reason)


def exported(signal: str = "traces", exporter: str = NAME) -> float:
    return SELF.get("als_bridge_exported_items_total", exporter=exporter, signal=signal)


class Stuck:
    """An exporter whose send waits until released: the worker holds one request in flight."""

    def __init__(self) -> None:
        self.name = "fake/stuck"
        self.release = threading.Event()
        self.sent: list[ExportRequest] = []

    def send(self, signal: Signal, request: ExportRequest) -> None:
        self.release.wait(10)
        self.sent.append(request)

    def shutdown(self) -> None:
        self.release.set()


# -- the file format -------------------------------------------------------------------------


def test_file_round_trip_and_every_kind_of_damage() -> None:
    payload = otlp_data.traces().SerializeToString()
    data = encode(Signal.LOGS, payload, 7)
    assert data[:4] == b"ALSQ" and len(data) == HEADER.size + len(payload)
    assert decode(data) == (Signal.LOGS, payload, 7)

    flipped = bytearray(data)
    flipped[-1] ^= 0xFF
    damaged = {
        "bad magic": b"XXXX" + data[4:],
        "CRC32 mismatch": bytes(flipped),
        "truncated": data[:-3],
        "shorter": data[:10],
        "unknown format version": data[:4] + b"\x09" + data[5:],
    }
    for expected, blob in damaged.items():
        with pytest.raises(CorruptFileError, match=expected):
            decode(blob)


# -- outages ---------------------------------------------------------------------------------


def test_every_span_of_an_outage_arrives_once_the_backend_is_back(sink: OTLPSink, tmp_path: Path) -> None:
    sink.set_down(True)
    queue = durable_queue(sink.grpc_endpoint, tmp_path, queue_size=5)  # memory alone holds 5 spans
    assert all(queue.submit(Signal.TRACES, numbered(i)) for i in range(60))
    assert len(files(storage_directory(str(tmp_path), NAME))) == 60
    assert SELF.get("als_bridge_queue_length", exporter=NAME) == 60
    time.sleep(0.3)  # a few failed attempts while down

    sink.set_down(False)
    assert sink.wait_for(lambda: exported() == 60)
    assert sorted(received_ids(sink)) == list(range(60))  # every one, none twice, in order sent
    assert received_ids(sink) == list(range(60))
    assert queue.shutdown(2.0)
    assert files(storage_directory(str(tmp_path), NAME)) == []
    assert SELF.get("als_bridge_dropped_items_total") == 0
    assert SELF.get("als_bridge_queue_length", exporter=NAME) == 0


def test_without_storage_what_did_not_fit_is_counted_exactly(sink: OTLPSink) -> None:
    from bridge.exporters.otlp import OTLPExporter
    from bridge.exporters.otlp.config import OTLPExporterConfig
    from bridge.exporters.shared_config import TLSClientConfig

    sink.set_down(True)
    config = OTLPExporterConfig(endpoint=sink.grpc_endpoint, tls=TLSClientConfig(insecure=True), timeout=1.0)
    queue = QueuedExporter(
        OTLPExporter("otlp/memory", config),
        replace(ONE_BY_ONE, queue_size=5),
        RetryConfig(initial_interval=0.02, max_elapsed_time=0),
    )
    submitted = 40
    accepted = sum(queue.submit(Signal.TRACES, numbered(i)) for i in range(submitted))
    sink.set_down(False)
    assert sink.wait_for(lambda: exported(exporter="otlp/memory") == accepted)
    assert queue.shutdown(2.0)
    received = len(received_ids(sink))
    assert received == accepted == 5
    assert dropped("queue_full", exporter="otlp/memory") == submitted - received


# -- restarts --------------------------------------------------------------------------------


def test_a_clean_shutdown_during_an_outage_keeps_the_files_for_the_next_start(
    sink: OTLPSink, tmp_path: Path
) -> None:
    sink.set_down(True)
    first = durable_queue(sink.grpc_endpoint, tmp_path)
    for i in range(10):
        assert first.submit(Signal.TRACES, numbered(i))
    first.submit(Signal.METRICS, otlp_data.metrics(points=2))  # metrics stay in memory
    assert len(files(storage_directory(str(tmp_path), NAME))) == 10
    assert not first.shutdown(0.2)
    assert dropped("shutdown") == 0  # on disk, not lost
    assert dropped("shutdown", signal="metrics") == 3

    sink.set_down(False)
    second = durable_queue(sink.grpc_endpoint, tmp_path)
    assert second.queue_length == 10  # counted from the headers before anything is sent
    assert sink.wait_for(lambda: exported() == 10)
    assert received_ids(sink) == list(range(10))
    assert second.shutdown(2.0)


def test_kill_9_loses_nothing_that_was_accepted(sink: OTLPSink, tmp_path: Path) -> None:
    """A real SIGKILL: no shutdown, no atexit; the files and the kernel's lock release are all there is."""
    count = 25
    sink.set_down(True)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.exporters.crash_child", str(tmp_path), sink.grpc_endpoint, str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == f"queued {count}"
        directory = storage_directory(str(tmp_path), NAME)
        with pytest.raises(StorageLockedError, match=rf"in use by another process \(pid {child.pid}\)"):
            FileQueue(directory, 1 << 20)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        assert child.stdout is not None
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert len(files(directory)) == count

    sink.set_down(False)
    queue = durable_queue(sink.grpc_endpoint, tmp_path)
    assert sink.wait_for(lambda: len(received_ids(sink)) >= count)
    # The backend was down the whole life of the child, so nothing was acknowledged before the
    # kill: the at-least-once window (acknowledged, not yet deleted) is empty, and none comes twice.
    assert sorted(received_ids(sink)) == list(range(count))
    assert queue.shutdown(2.0)
    assert files(directory) == []


def test_a_second_queue_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    first = FileQueue(tmp_path, 1 << 20, "otlp/a")
    with pytest.raises(StorageLockedError, match=f"pid {os.getpid()}"):
        FileQueue(tmp_path, 1 << 20, "otlp/b")
    first.close()
    FileQueue(tmp_path, 1 << 20, "otlp/b").close()  # free again once closed


# -- bad files -------------------------------------------------------------------------------


def test_corrupt_and_truncated_files_are_set_aside_counted_and_skipped(
    sink: OTLPSink, tmp_path: Path
) -> None:
    directory = storage_directory(str(tmp_path), NAME)
    store = FileQueue(directory, 1 << 20, NAME)
    for i in range(4):
        store.append(Signal.TRACES, numbered(i).SerializeToString(), 1)
    store.close()
    names = files(directory)
    flip = bytearray((directory / names[1]).read_bytes())
    flip[-2] ^= 0x55
    (directory / names[1]).write_bytes(bytes(flip))  # CRC mismatch: found when it is read
    (directory / names[2]).write_bytes((directory / names[2]).read_bytes()[:-4])  # truncated
    (directory / "00000000000000000900.req").write_bytes(b"not a queue file at all")  # bad magic
    (directory / "00000000000000000901.tmp").write_bytes(b"half written")  # a crash mid-write

    queue = durable_queue(sink.grpc_endpoint, tmp_path)
    assert queue.submit(Signal.TRACES, numbered(99))  # new requests go after the old ones
    assert sink.wait_for(lambda: exported() == 3)
    assert received_ids(sink) == [0, 3, 99]
    assert queue.shutdown(2.0)
    assert SELF.get(CORRUPT, exporter=NAME) == 3
    assert sorted(p.name for p in (directory / "corrupt").iterdir()) == sorted(
        [names[1], names[2], "00000000000000000900.req"]
    )
    assert not list(directory.glob("*.tmp"))
    assert files(directory) == []
    assert SELF.get("als_bridge_queue_length", exporter=NAME) == 0


def test_a_payload_that_is_not_protobuf_is_corrupt_too(tmp_path: Path) -> None:
    store = FileQueue(tmp_path, 1 << 20)
    payload = b"\xff\xff\xff\xff"  # a valid header and CRC around bytes protobuf cannot parse
    path = tmp_path / "00000000000000000000.req"
    path.write_bytes(HEADER.pack(b"ALSQ", 1, 1, 0, 1, len(payload), zlib.crc32(payload)) + payload)
    store.close()
    store = FileQueue(tmp_path, 1 << 20)
    seq = store.take()
    assert seq == 0
    with pytest.raises(CorruptFileError):
        store.read(seq)
    assert SELF.get(CORRUPT) == 1 and store.size == 0 and store.items == 0
    store.close()


# -- limits ----------------------------------------------------------------------------------


def test_disk_cap_drops_and_counts_disk_full(tmp_path: Path) -> None:
    stuck = Stuck()
    request = numbered(1)
    file_size = HEADER.size + request.ByteSize()
    store = FileQueue(tmp_path, int(file_size * 2.5), stuck.name)
    queue = QueuedExporter(stuck, ONE_BY_ONE, storage=store)
    accepted = [queue.submit(Signal.TRACES, numbered(i)) for i in range(5)]
    assert accepted == [True, True, False, False, False]
    assert dropped("disk_full", exporter=stuck.name) == 3
    assert len(files(tmp_path)) == 2 and store.size == 2 * file_size
    assert queue.has_capacity()  # below the cap, though a whole request no longer fits (drop mode)

    big = otlp_data.traces(spans_per_resource=200)
    assert not queue.submit(Signal.TRACES, big)
    assert dropped("too_large", exporter=stuck.name) == 400
    stuck.release.set()
    assert queue.shutdown(2.0)
    assert len(stuck.sent) == 2 and files(tmp_path) == []


def test_memory_holds_only_a_window_of_what_is_on_disk(tmp_path: Path) -> None:
    """Past the window, requests are on disk only and are read back when the worker gets to them."""
    stuck = Stuck()
    queue = QueuedExporter(
        stuck, replace(ONE_BY_ONE, queue_size=3), storage=FileQueue(tmp_path, 1 << 20, stuck.name)
    )
    for i in range(20):
        assert queue.submit(Signal.TRACES, numbered(i))
    in_memory = sum(entry.items for entry in window_entries(queue))
    assert in_memory <= 3
    # metrics take the window's room: they have no other copy
    assert queue.submit(Signal.METRICS, otlp_data.metrics(points=1))
    assert sum(entry.items for entry in window_entries(queue)) + 2 <= 3
    stuck.release.set()
    assert queue.shutdown(5.0)
    traces = [r for r in stuck.sent if isinstance(r, type(numbered(0)))]
    ids = collections.Counter(
        int.from_bytes(r.resource_spans[0].scope_spans[0].spans[0].trace_id) for r in traces
    )
    assert sorted(ids) == list(range(20)) and set(ids.values()) == {1}
    assert len(stuck.sent) == 21
