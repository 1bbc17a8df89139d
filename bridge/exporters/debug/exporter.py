"""`debug`: prints what would be exported, one line per span, data point or log record.

For looking at the bridge's output without a backend (the Collector's `debug` exporter).
`basic` prints one summary line per request, `normal` one line per item, `detailed` adds every
resource and item attribute on indented lines below each item. Odd data (missing fields,
unknown enum values, huge or binary attributes) is printed as best it can be; it never raises
because of what it is given.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from bridge.exporters.base import ExportError, ExportRequest, Signal, as_message, count_items
from bridge.exporters.debug.config import DebugExporterConfig

_PLAIN = re.compile(r"[^\s\"'=,{}\[\]]+")  # strings shown without quotes
_MAX_VALUE = 200  # characters of one attribute value
# Attributes that name the other end of a span, newest convention first.
_PEER_KEYS = ("service.peer.name", "peer.service", "server.address", "network.peer.address")
_SPAN_KINDS = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}
_METRIC_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


class DebugExporter:
    """Writes requests as text to `stream` (stderr by default)."""

    def __init__(self, name: str, config: DebugExporterConfig, stream: TextIO | None = None) -> None:
        self.name = name
        self._verbosity = config.verbosity
        self._stream = stream
        self._lock = threading.Lock()  # one request's lines stay together

    def send(self, signal: Signal, request: ExportRequest) -> None:
        lines = format_request(signal, as_message(request), self._verbosity)
        text = "".join(line + "\n" for line in lines)
        stream = self._stream if self._stream is not None else sys.stderr
        try:
            with self._lock:
                stream.write(text)
                stream.flush()
        except (OSError, ValueError) as err:  # closed or broken stream: not the data's fault
            raise ExportError(f"{self.name}: cannot write: {err}", retryable=False) from None

    def shutdown(self) -> None:
        """Nothing to close: the stream belongs to whoever passed it in."""


def format_request(signal: Signal, request: ExportRequest, verbosity: str) -> list[str]:
    """The lines for one request; a failure to format one item costs only that item's line."""
    try:
        if verbosity == "basic":
            return [_summary(signal, request)]
        detailed = verbosity == "detailed"
        if signal is Signal.TRACES:
            return list(_span_lines(request, detailed))
        if signal is Signal.METRICS:
            return list(_metric_lines(request, detailed))
        return list(_log_lines(request, detailed))
    except Exception as err:  # the request itself is not what it claims to be
        return [f"{signal.value}: <cannot print request: {type(err).__name__}: {err}>"]


def _safely(signal: Signal, format_item: Callable[..., list[str]], *args: Any) -> list[str]:
    """One item's lines, or one error line in their place, so one odd item costs only itself."""
    try:
        return format_item(*args)
    except Exception as err:
        return [f"{signal.value}: <cannot print item: {type(err).__name__}: {err}>"]


def _summary(signal: Signal, request: ExportRequest) -> str:
    items = count_items(signal, request)
    if signal is Signal.TRACES:
        return f"traces: {items} spans, {len(request.resource_spans)} resources"
    if signal is Signal.LOGS:
        return f"logs: {items} log records, {len(request.resource_logs)} resources"
    metrics = sum(len(sm.metrics) for rm in request.resource_metrics for sm in rm.scope_metrics)
    resources = len(request.resource_metrics)
    return f"metrics: {items} data points, {metrics} metrics, {resources} resources"


def _span_lines(request: ExportRequest, detailed: bool) -> Iterator[str]:
    for resource_spans in request.resource_spans:
        resource = attributes_dict(resource_spans.resource.attributes)
        service = _service(resource)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield from _safely(Signal.TRACES, _span_item, span, service, resource, detailed)


def _span_item(span: Any, service: str, resource: dict[str, Any], detailed: bool) -> list[str]:
    lines = [_span_line(span, service)]
    if detailed:
        lines += _details(resource, span.attributes)
    return lines


def _span_line(span: Any, service: str) -> str:
    attributes = attributes_dict(span.attributes)
    peer = next((str(attributes[key]) for key in _PEER_KEYS if key in attributes), "-")
    parent = span.parent_span_id.hex() or "-"
    kind = _SPAN_KINDS.get(span.kind, f"KIND_{span.kind}")
    status = _STATUS_CODES.get(span.status.code, f"STATUS_{span.status.code}")
    duration = _millis(span.end_time_unix_nano - span.start_time_unix_nano)
    return (
        f"span {span.trace_id.hex()} {span.span_id.hex()} parent={parent} {kind} {_quoted(span.name)} "
        f"{service} -> {peer} {status} {duration}"
    )


def _metric_lines(request: ExportRequest, detailed: bool) -> Iterator[str]:
    for resource_metrics in request.resource_metrics:
        resource = attributes_dict(resource_metrics.resource.attributes)
        service = _service(resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                yield from _safely(Signal.METRICS, _metric_item, metric, service, resource, detailed)


def _metric_item(metric: Any, service: str, resource: dict[str, Any], detailed: bool) -> list[str]:
    """One line per data point of `metric`."""
    kind = metric.WhichOneof("data")
    if kind is None:
        return [f"metric {_quoted(metric.name)} (no data) {service}"]
    lines = []
    for point in getattr(metric, kind).data_points:
        attributes = _pairs(attributes_dict(point.attributes))
        value = _point_value(kind, point)
        lines.append(f"metric {_quoted(metric.name)} {kind} {service} {{{attributes}}} {value}")
        if detailed:
            lines.append(f"  resource {_pairs(resource) or '-'}")
            if kind == "histogram":
                lines.append(f"  buckets {_buckets(point.explicit_bounds, point.bucket_counts)}")
    return lines


def _point_value(kind: str, point: Any) -> str:
    if kind in ("gauge", "sum"):
        which = point.WhichOneof("value")
        return f"value={getattr(point, which)}" if which else "value=-"
    text = f"count={point.count} sum={_number(point.sum)}"
    if kind != "summary" and point.HasField("min"):
        text += f" min={_number(point.min)} max={_number(point.max)}"
    return text


def _buckets(bounds: Iterable[float], counts: Iterable[int]) -> str:
    labels = [f"le{_number(bound)}" for bound in bounds] + ["le+Inf"]
    return " ".join(f"{label}={count}" for label, count in zip(labels, counts, strict=False))


def _log_lines(request: ExportRequest, detailed: bool) -> Iterator[str]:
    for resource_logs in request.resource_logs:
        resource = attributes_dict(resource_logs.resource.attributes)
        service = _service(resource)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                yield from _safely(Signal.LOGS, _log_item, record, service, resource, detailed)


def _log_item(record: Any, service: str, resource: dict[str, Any], detailed: bool) -> list[str]:
    when = _timestamp(record.time_unix_nano or record.observed_time_unix_nano)
    severity = record.severity_text or f"SEVERITY_{record.severity_number}"
    trace = record.trace_id.hex() or "-"
    body = _value_text(any_value(record.body)) if record.HasField("body") else '""'
    lines = [f"log {when} {_quoted(severity)} {service} trace={trace} {body}"]
    if detailed:
        lines += _details(resource, record.attributes)
    return lines


def _details(resource: dict[str, Any], attributes: Iterable[Any]) -> list[str]:
    item_attributes = _pairs(attributes_dict(attributes))
    return [f"  resource {_pairs(resource) or '-'}", f"  attributes {item_attributes or '-'}"]


def attributes_dict(attributes: Iterable[Any]) -> dict[str, Any]:
    """OTLP `KeyValue`s as a plain dict (later duplicates win, as most backends do)."""
    return {kv.key: any_value(kv.value) for kv in attributes}


def any_value(value: Any) -> Any:
    """An OTLP `AnyValue` as a Python value; lists and maps recursively, bytes as bytes."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return attributes_dict(value.kvlist_value.values)
    return getattr(value, which)


def _service(resource: dict[str, Any]) -> str:
    return _value_text(resource.get("service.name", "-"))


def _pairs(attributes: dict[str, Any]) -> str:
    return " ".join(f"{_value_text(key)}={_value_text(value)}" for key, value in attributes.items())


def _value_text(value: Any) -> str:
    """A value printed so that a line stays one line and stays readable."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value[:_MAX_VALUE].hex()
    if isinstance(value, list):
        return "[" + ",".join(_value_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + _pairs(value) + "}"
    return _quoted(str(value))


def _quoted(text: str) -> str:
    if len(text) > _MAX_VALUE:
        text = text[:_MAX_VALUE] + "..."
    return text if _PLAIN.fullmatch(text) else json.dumps(text)


def _number(value: float) -> str:
    return f"{value:g}"


def _millis(nanos: int) -> str:
    return f"{nanos / 1e6:.3f}ms"


def _timestamp(nanos: int) -> str:
    if not nanos:
        return "-"
    try:
        when = datetime.fromtimestamp(nanos / 1e9, UTC)
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return str(nanos)
