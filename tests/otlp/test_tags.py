"""Every named tag is the field number and wire type of the `.proto` field it is named after."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Exemplar,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from bridge.otlp import tags

# tag constant prefix -> the message it belongs to
MESSAGES: dict[str, Any] = {
    "ANY_VALUE_": AnyValue,
    "KEY_VALUE_": KeyValue,
    "RESOURCE_ATTRIBUTES": Resource,
    "TRACE_REQUEST_": ExportTraceServiceRequest,
    "RESOURCE_SPANS_": ResourceSpans,
    "SCOPE_SPANS_": ScopeSpans,
    "SPAN_": Span,
    "STATUS_": Status,
    "RESOURCE_LOGS_": ResourceLogs,
    "METRICS_REQUEST_": ExportMetricsServiceRequest,
    "RESOURCE_METRICS_": ResourceMetrics,
    "SCOPE_METRICS_": ScopeMetrics,
    "METRIC_": Metric,
    "SUM_": Sum,
    "HISTOGRAM_POINT_": HistogramDataPoint,
    "HISTOGRAM_": Histogram,
    "NUMBER_POINT_": NumberDataPoint,
    "EXEMPLAR_": Exemplar,
}
# the field name where it is not the rest of the constant's name
RENAMED = {"ANY_VALUE_STRING": "string_value", "ANY_VALUE_BOOL": "bool_value", "ANY_VALUE_INT": "int_value",
           "ANY_VALUE_DOUBLE": "double_value", "RESOURCE_ATTRIBUTES": "attributes",
           "SPAN_START_TIME": "start_time_unix_nano", "SPAN_END_TIME": "end_time_unix_nano",
           "NUMBER_POINT_START_TIME": "start_time_unix_nano", "NUMBER_POINT_TIME": "time_unix_nano",
           "HISTOGRAM_POINT_START_TIME": "start_time_unix_nano", "HISTOGRAM_POINT_TIME": "time_unix_nano",
           "METRIC_SUM": "sum", "METRIC_HISTOGRAM": "histogram", "EXEMPLAR_TIME": "time_unix_nano"}  # fmt: skip
WIRE_TYPES = {
    FieldDescriptor.TYPE_STRING: 2,
    FieldDescriptor.TYPE_BYTES: 2,
    FieldDescriptor.TYPE_MESSAGE: 2,
    FieldDescriptor.TYPE_BOOL: 0,
    FieldDescriptor.TYPE_INT64: 0,
    FieldDescriptor.TYPE_ENUM: 0,
    FieldDescriptor.TYPE_DOUBLE: 1,
    FieldDescriptor.TYPE_FIXED64: 1,
    FieldDescriptor.TYPE_SFIXED64: 1,
}
NAMES = [name for name in vars(tags) if name.isupper() and isinstance(getattr(tags, name), bytes)]


def _field(name: str) -> Any:
    prefix = max((p for p in MESSAGES if name.startswith(p)), key=len)
    field_name = RENAMED.get(name) or name[len(prefix) :].lower()
    return MESSAGES[prefix].DESCRIPTOR.fields_by_name[field_name]


@pytest.mark.parametrize("name", NAMES)
def test_tag_matches_the_proto_field(name: str) -> None:
    field = _field(name)
    packed = field.is_packed  # a packed repeated scalar is one length-delimited field
    wire_type = 2 if packed else WIRE_TYPES[field.type]
    assert getattr(tags, name) == bytes([field.number << 3 | wire_type])


def test_every_tag_is_checked() -> None:
    assert len(NAMES) > 50


def test_a_field_past_15_is_refused() -> None:
    with pytest.raises(ValueError, match="multi-byte tag"):
        tags.tag(16, 2)
