"""An entry as an OTLP log record: what the Collector's envoyals receiver gives, but structured
(attributes instead of the protobuf text) and correlated (the trace and span id of its span)."""

from __future__ import annotations

import time

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber

from bridge.attributes import AttrValue
from bridge.decode import EntryView
from bridge.identity import Ends, peer_span_attributes
from bridge.otlp import key_values
from bridge.spans import SpanSet


def _body(view: EntryView) -> str:
    if view.is_tcp:
        cluster = view.upstream_cluster or "-"
        return f"TCP {cluster} received={view.tcp_received_bytes} sent={view.tcp_sent_bytes}"
    flags = view.response_flags or "-"
    return f"{view.method or '-'} {view.authority}{view.path} {view.response_code} {flags}"


def build_log(view: EntryView, ends: Ends, spans: SpanSet, log_name: str) -> LogRecord:
    attrs: list[tuple[str, AttrValue]] = [
        ("envoy.log_name", log_name),
        ("envoy.log_type", "tcp" if view.is_tcp else "http"),
        ("envoy.direction", ends.direction.name.lower()),
    ]
    attrs.extend(spans.attributes)
    attrs.extend(peer_span_attributes(ends.peer))
    failed = spans.own is not None and spans.own.is_error
    record = LogRecord(
        time_unix_nano=view.start_ns,
        observed_time_unix_nano=time.time_ns(),
        severity_number=SeverityNumber.SEVERITY_NUMBER_WARN
        if failed
        else SeverityNumber.SEVERITY_NUMBER_INFO,
        severity_text="WARN" if failed else "INFO",
        attributes=key_values(attrs),
    )
    record.body.string_value = _body(view)
    if spans.own is not None:
        record.trace_id = spans.own.trace_id
        record.span_id = spans.own.span_id
    return record
