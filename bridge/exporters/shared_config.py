"""Config pieces several exporters embed: `tls`, `sending_queue` and `retry_on_failure`.

As the Collector's `configtls.ClientConfig`, `exporterhelper.QueueConfig` and `RetryConfig`: an
exporter's own config (`exporters/<type>/config.py`) has a field of each it uses, and every piece
validates itself, so the rules are written once for all exporters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from bridge.config.fields import FieldError, check_cert_key_pair
from bridge.config.types import ByteSize, Duration

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass
class TLSClientConfig:
    insecure: bool = False  # plaintext (h2c / http); the Collector's `tls.insecure`
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False

    def validate(self) -> None:
        check_cert_key_pair(self.cert_file, self.key_file, "client")


@dataclass
class BatchConfig:
    """`sending_queue.batch`: queued requests of one signal merged before they are sent.

    The Collector's exporterhelper batching, with its names and defaults: a consumer sends as soon
    as `min_size` items (spans, data points, log records) wait, or when the oldest waiting request
    has waited `flush_timeout`; one send merges up to `max_size` items (0: no item limit) and, in
    any case, at most 4 MiB of OTLP (gRPC's default receive limit, which most OTLP backends keep;
    a single request over it goes alone). `batch: null` sends every request as it was queued.
    """

    flush_timeout: Duration = 0.2
    min_size: int = 8192
    max_size: int = 0

    def validate(self) -> None:
        if self.flush_timeout <= 0:
            raise FieldError(("flush_timeout",), "must be greater than 0")
        if self.min_size < 0:
            raise FieldError(("min_size",), "must not be negative")
        if self.max_size < 0 or (self.max_size and self.max_size < self.min_size):
            raise FieldError(("max_size",), f"must be 0 (no limit) or at least min_size ({self.min_size})")


@dataclass
class QueueConfig:
    """`sending_queue`: the Collector's exporterhelper queue, in front of every network exporter.

    `queue_size` (items: spans, data points, log records) and `max_bytes` (serialised; 0 = no byte
    limit) bound memory. `on_full` says what happens when the queue is full:

    * `drop` (default): the request is dropped and counted in `als_bridge_dropped_items_total
      {reason="queue_full"}`; everything else (other exporters, the receiver, Envoy) keeps flowing.
    * `block`: the receiver stops reading its gRPC streams while this queue is full, which slows
      Envoy through HTTP/2 flow control. Nothing is lost inside the bridge, but Envoy drops the
      entries it cannot buffer (uncounted here), and one slow exporter slows every pipeline fed by
      the same receiver.

    `storage: file` keeps traces and logs in `directory` (one subdirectory per exporter) until the
    backend has acknowledged them, so they survive an outage longer than memory holds and a restart
    or crash of the bridge (at-least-once). Metrics stay in memory: they are cumulative, and the
    next export carries what a lost one held. `max_disk_bytes` bounds the files; when it is
    reached, new requests are dropped (`reason="disk_full"`). With storage, `queue_size` and
    `max_bytes` bound only the part kept in memory as well.

    `num_consumers` requests (merged by `batch`) are sent at once, so one slow round trip does
    not hold back the rest; the order of requests is then not kept (OTLP does not promise it).
    """

    enabled: bool = True
    num_consumers: int = 10
    queue_size: int = 50_000
    max_bytes: ByteSize = 64 * MiB
    on_full: Literal["drop", "block"] = "drop"
    storage: Literal["", "file"] = ""
    directory: str = ""
    max_disk_bytes: ByteSize = 1 * GiB
    batch: BatchConfig | None = field(default_factory=BatchConfig)

    def validate(self) -> None:
        if self.num_consumers <= 0:
            raise FieldError(("num_consumers",), "must be greater than 0")
        if self.queue_size <= 0:
            raise FieldError(("queue_size",), "must be greater than 0 (items the queue holds)")
        if self.max_bytes < 0:
            raise FieldError(("max_bytes",), "must not be negative (0 = no byte limit)")
        if self.storage == "file":
            if not self.enabled:
                raise FieldError(("storage",), "needs enabled: true (a persistent queue is a queue)")
            if not self.directory:
                raise FieldError(("directory",), "must be set when storage is file")
            if self.max_disk_bytes <= 0:
                raise FieldError(("max_disk_bytes",), "must be greater than 0")


@dataclass
class RetryConfig:
    """`retry_on_failure`: how long to keep trying a request the backend may still take.

    The wait after the n-th failure is `initial_interval * multiplier**n`, capped at
    `max_interval`, randomised by +/- `randomization_factor`, and at least what the backend asked
    for (Retry-After / RetryInfo). After `max_elapsed_time` (0 = until shutdown) the request is
    given up and counted in `als_bridge_export_failed_items_total{reason="retries_exhausted"}`,
    and, with `storage: file`, deleted from disk: to ride out any outage on disk, set it to 0.
    `enabled: false` gives up at the first failure (`reason="retry_disabled"`).
    """

    enabled: bool = True
    initial_interval: Duration = 0.5
    max_interval: Duration = 5.0
    max_elapsed_time: Duration = 60.0
    multiplier: float = 1.5
    randomization_factor: float = 0.5

    def validate(self) -> None:
        if self.initial_interval <= 0:
            raise FieldError(("initial_interval",), "must be greater than 0")
        if self.max_interval < self.initial_interval:
            raise FieldError(
                ("max_interval",), f"must be at least initial_interval ({self.initial_interval}s)"
            )
        if self.multiplier < 1:
            raise FieldError(("multiplier",), f"must be at least 1; got {self.multiplier}")
        if not 0 <= self.randomization_factor <= 1:
            raise FieldError(
                ("randomization_factor",), f"must be from 0 to 1; got {self.randomization_factor}"
            )


C = TypeVar("C")


def queue_for_worker(config: C, worker: int) -> C:
    """`config` for worker process `worker`: a persistent queue keeps its files in `<directory>/worker-i`
    (two processes cannot share one queue's files); anything else is unchanged."""
    queue: Any = getattr(config, "sending_queue", None)
    if queue is None or not queue.directory:
        return config
    return replace(config, sending_queue=replace(queue, directory=f"{queue.directory}/worker-{worker}"))  # type: ignore[type-var]
