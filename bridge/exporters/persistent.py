"""`FileQueue`: export requests kept on disk until the backend has acknowledged them.

Why files: a request that is only in memory is lost when the backend is down for longer than
memory holds, or when the bridge restarts or crashes. With `sending_queue.storage: file` the
queue writes every trace and log request to disk before `submit` says yes, and deletes it only
once it is done (exported, or given up), so what the bridge accepted is delivered at least once.

Layout: one file per request, `<seq>.req` with a 20-digit, zero-padded sequence number, written
as `<seq>.tmp`, fsynced, renamed and the directory fsynced; a crash leaves either no file or a
complete one (a `.tmp` left over was never acknowledged to the caller and is deleted at start).
Sequence numbers are assigned in order, only to files that were written, so the files pending
after start-up are exactly `[cursor, next_seq)` plus the ones found at start-up: the queue keeps
two integers, not a list, however many files are waiting.

A file is a 20-byte header and the serialised protobuf request:

    magic  b"ALSQ"   4 bytes
    version  1       1 byte
    signal           1 byte   1 traces, 2 metrics, 3 logs
    reserved 0       2 bytes
    items            4 bytes  spans / data points / log records, for the counters and the gauge
    length           4 bytes  of the payload that follows
    crc32            4 bytes  of the payload
    (big-endian)

A file with a bad header, a wrong length (truncated) or a CRC mismatch is moved to `corrupt/`
(at most `_CORRUPT_KEPT` are kept, so disk use stays bounded), counted in
`als_bridge_persistent_queue_corrupt_total` and logged; it never stops the queue.

The directory is locked (`flock` on `lock`) for as long as the queue is open, so a second bridge
pointed at it fails at start-up instead of sending (and deleting) the same files; the kernel
releases the lock when the process dies, even by `kill -9`.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bridge.exporters.base import ExportRequest, Signal
from bridge.telemetry import SELF

CORRUPT = "als_bridge_persistent_queue_corrupt_total"
SELF.describe(CORRUPT, "counter", "Persistent queue files skipped as corrupt or truncated, by exporter")

_logger = logging.getLogger(__name__)

MAGIC = b"ALSQ"
VERSION = 1
HEADER = struct.Struct(">4sBBHIII")
SUFFIX = ".req"
_TEMP_SUFFIX = ".tmp"
_LOCK_NAME = "lock"
_CORRUPT_DIR = "corrupt"
_CORRUPT_KEPT = 32  # corrupt files kept for inspection; older ones are deleted

SIGNAL_CODES: dict[Signal, int] = {Signal.TRACES: 1, Signal.METRICS: 2, Signal.LOGS: 3}
_SIGNALS_BY_CODE = {code: signal for signal, code in SIGNAL_CODES.items()}
_REQUEST_CLASSES: dict[Signal, Any] = {  # generated protobuf classes carry no types
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}


class StorageLockedError(RuntimeError):
    """Another process (normally a second bridge) holds the queue directory."""


class DiskFullError(Exception):
    """The request does not fit under `max_disk_bytes`."""


class CorruptFileError(Exception):
    """A queue file cannot be read back; `items` is what its header claimed (0 if unreadable)."""

    def __init__(self, message: str, items: int = 0) -> None:
        super().__init__(message)
        self.items = items


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """A request read back from disk."""

    seq: int
    signal: Signal
    request: ExportRequest
    items: int
    file_size: int


def encode(signal: Signal, payload: bytes, items: int) -> bytes:
    """Header and payload: the exact bytes of one queue file."""
    crc = zlib.crc32(payload)
    return HEADER.pack(MAGIC, VERSION, SIGNAL_CODES[signal], 0, items, len(payload), crc) + payload


def decode(data: bytes) -> tuple[Signal, bytes, int]:
    """Signal, payload and item count of a queue file's bytes; CorruptFileError if anything is off."""
    signal, length, crc, items = _header(data)
    payload = data[HEADER.size :]
    if len(payload) != length:
        raise CorruptFileError(f"payload is {len(payload)} bytes, header says {length} (truncated?)", items)
    if zlib.crc32(payload) != crc:
        raise CorruptFileError("CRC32 mismatch", items)
    return signal, payload, items


def _header(data: bytes) -> tuple[Signal, int, int, int]:
    """Signal, payload length, CRC and item count from the first bytes of a file."""
    if len(data) < HEADER.size:
        raise CorruptFileError(f"shorter ({len(data)} bytes) than the {HEADER.size}-byte header")
    magic, version, code, _, items, length, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptFileError(f"bad magic {magic!r}")
    if version != VERSION:
        raise CorruptFileError(f"unknown format version {version}", items)
    signal = _SIGNALS_BY_CODE.get(code)
    if signal is None:
        raise CorruptFileError(f"unknown signal code {code}", items)
    return signal, length, crc, items


class FileQueue:
    """A FIFO of export requests in one directory, bounded by `max_bytes` of files.

    Thread-safe: `append` is called by the pipeline, `take`/`read`/`remove` by the exporter's
    worker. Appends are serialised by a lock held across the write, so files become visible in
    sequence order and the reader never sees a gap.
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int, name: str = "") -> None:
        self.directory = Path(directory)
        self.name = name or str(directory)
        self._max_bytes = max_bytes
        self._lock = threading.Lock()  # counters and cursors
        self._write_lock = threading.Lock()  # one file written at a time, in sequence order
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._bytes = 0  # size of every queue file on disk, the one being sent included
        self._items = 0
        self._found: collections.deque[int] = collections.deque()  # left by an earlier run
        self._next_seq = 0
        self._lock_fd = _lock_directory(self.directory)
        try:
            self._dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        except BaseException:
            os.close(self._lock_fd)  # a queue that failed to open must not keep the directory locked
            raise
        try:
            self._scan()
        except BaseException:
            os.close(self._dir_fd)
            os.close(self._lock_fd)
            raise
        self._cursor = self._next_seq  # files in [cursor, next_seq) are waiting
        self._closed = False

    # -- sizes -------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Bytes of every queue file on disk (the one being sent included)."""
        with self._lock:
            return self._bytes

    @property
    def items(self) -> int:
        """Items in the files on disk (the one being sent included)."""
        with self._lock:
            return self._items

    def has_room(self) -> bool:
        """Whether the files are below `max_bytes`."""
        with self._lock:
            return self._bytes < self._max_bytes

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def waiting(self, seq: int) -> bool:
        """Whether file `seq`, appended in this run, has not been taken yet."""
        with self._lock:
            return seq >= self._cursor

    def pending(self) -> bool:
        """Whether a file is waiting to be taken."""
        with self._lock:
            return bool(self._found) or self._cursor < self._next_seq

    # -- writing -----------------------------------------------------------------------------

    def append(
        self, signal: Signal, payload: bytes, items: int, *, overshoot: bool = False
    ) -> tuple[int, int]:
        """Writes a request durably and returns its (sequence number, file size).

        DiskFullError when it does not fit under `max_bytes`; with `overshoot`, it is written as
        long as the files are below the limit before it (the limit is exceeded by at most one
        request, which `on_full: block` needs so that nothing already read is lost). OSError when
        the disk fails; nothing is left behind then.
        """
        data = encode(signal, payload, items)
        with self._write_lock:
            if self._closed:
                raise ValueError(f"{self.name}: the file queue is closed")
            with self._lock:
                room = self._max_bytes - self._bytes
                if len(data) > self._max_bytes or room <= 0 or (not overshoot and len(data) > room):
                    raise DiskFullError(f"{self._bytes} of {self._max_bytes} bytes used")
                seq = self._next_seq
            self._write(seq, data)
            with self._lock:
                self._next_seq = seq + 1
                self._bytes += len(data)
                self._items += items
        return seq, len(data)

    def _write(self, seq: int, data: bytes) -> None:
        """Temp file, fsync, rename, fsync of the directory: after this the file survives a crash."""
        final = self.directory / f"{seq:020d}{SUFFIX}"
        temp = final.with_suffix(_TEMP_SUFFIX)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, final)
            os.fsync(self._dir_fd)
        except OSError:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise

    # -- reading -----------------------------------------------------------------------------

    def take(self) -> int | None:
        """The sequence number of the oldest waiting file, now in flight; None if none waits."""
        with self._lock:
            if self._found:
                return self._found.popleft()
            if self._cursor < self._next_seq:
                self._cursor += 1
                return self._cursor - 1
            return None

    def peek(self) -> int | None:
        """The sequence number `take` would return next, without taking it."""
        with self._lock:
            if self._found:
                return self._found[0]
            return self._cursor if self._cursor < self._next_seq else None

    def file_size(self, seq: int) -> int:
        """The size of file `seq` (0 if it cannot be read: `read` will set it aside)."""
        return _size_of(self._path(seq))

    def read(self, seq: int) -> StoredRequest:
        """The request in file `seq`. A bad file is moved aside, counted, and raises CorruptFileError."""
        path = self._path(seq)
        items = 0  # what the header says, once it has been read: the counts to take back
        try:
            data = path.read_bytes()
            signal, payload, items = decode(data)
            request = _REQUEST_CLASSES[signal].FromString(payload)
        except Exception as err:  # OSError, CorruptFileError, protobuf's DecodeError: all mean unreadable
            items = err.items if isinstance(err, CorruptFileError) else items
            self._set_aside(path, str(err) or type(err).__name__, _size_of(path), items)
            raise CorruptFileError(str(err), items) from err
        return StoredRequest(seq, signal, request, items, len(data))

    def remove(self, seq: int, file_size: int, items: int) -> None:
        """The request is done (exported or given up): its file goes."""
        with contextlib.suppress(FileNotFoundError):
            self._path(seq).unlink()
        with self._lock:
            self._bytes -= file_size
            self._items -= items

    def close(self) -> None:
        """Releases the directory; the files stay for the next start. Later appends raise ValueError."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
        os.close(self._dir_fd)
        os.close(self._lock_fd)  # closing the descriptor releases the flock

    # -- start-up ----------------------------------------------------------------------------

    def _scan(self) -> None:
        """Finds the files of an earlier run (they are sent first), sizes them, drops temp files."""
        found: list[int] = []
        for entry in os.scandir(self.directory):
            if entry.name.endswith(_TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)  # a write that never completed, never acknowledged
                continue
            stem, _, suffix = entry.name.partition(".")
            if f".{suffix}" != SUFFIX or not stem.isdigit() or not entry.is_file():
                continue
            if self._admit_found(Path(entry.path), entry.stat().st_size):
                found.append(int(stem))
        found.sort()
        self._found.extend(found)
        self._next_seq = found[-1] + 1 if found else 0
        if found:
            _logger.info(
                "%s: %d requests (%d items, %d bytes) left on disk by an earlier run will be sent first",
                self.name,
                len(found),
                self._items,
                self._bytes,
            )

    def _admit_found(self, path: Path, size: int) -> bool:
        """Counts one file found at start-up, reading only its header; a bad header sets it aside."""
        try:
            with open(path, "rb") as file:
                _, length, _, items = _header(file.read(HEADER.size))
            if size != HEADER.size + length:
                raise CorruptFileError(f"file is {size} bytes, header says {HEADER.size + length}", items)
        except (OSError, CorruptFileError) as err:
            self._set_aside(path, str(err), 0, 0)
            return False
        self._bytes += size
        self._items += items
        return True

    def _set_aside(self, path: Path, why: str, counted_size: int, items: int) -> None:
        """Moves a bad file to `corrupt/` (or deletes it), counts and logs it; never raises."""
        SELF.add(CORRUPT, exporter=self.name)
        _logger.error("%s: skipping corrupt queue file %s: %s", self.name, path, why)
        aside = self.directory / _CORRUPT_DIR
        try:
            aside.mkdir(exist_ok=True, mode=0o700)
            kept = sorted(aside.iterdir())
            for old in kept[: max(len(kept) - _CORRUPT_KEPT + 1, 0)]:
                old.unlink()
            path.rename(aside / path.name)
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()
        with self._lock:
            self._bytes -= counted_size
            self._items -= items

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:020d}{SUFFIX}"


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _lock_directory(directory: Path) -> int:
    """An exclusive, non-blocking flock on `directory/lock`, holding our pid for the message."""
    path = directory / _LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StorageLockedError(
            f"sending_queue directory {directory} is in use by another process (pid {holder}); "
            "give each als-bridge its own directory"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
