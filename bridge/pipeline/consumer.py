"""The one interface between stages: something that takes a list of items of one signal."""

from __future__ import annotations

from typing import Any, Protocol

# An item is (its resource key, the OTLP Span / LogRecord / Metric): a `Workload` for spans and
# log records, a `bridge.otlp.MetricResource` for metrics.
Item = tuple[Any, Any]


class Consumer(Protocol):
    def consume(self, items: list[Item]) -> None:
        """Take ownership of `items`; never blocks on a network call."""

    def flush(self) -> None:
        """Push on whatever is held (the batch processor's partial batch)."""

    def shutdown(self) -> None: ...


class FanOut:
    """Several pipelines of one signal fed by one receiver."""

    def __init__(self, consumers: list[Consumer]) -> None:
        self._consumers = consumers

    def __bool__(self) -> bool:
        return bool(self._consumers)

    def consume(self, items: list[Item]) -> None:
        if len(self._consumers) == 1:
            self._consumers[0].consume(items)
            return
        for consumer in self._consumers:
            consumer.consume(list(items))

    def flush(self) -> None:
        for consumer in self._consumers:
            consumer.flush()

    def shutdown(self) -> None:
        for consumer in self._consumers:
            consumer.shutdown()
