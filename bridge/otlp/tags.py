"""Field tags of the OTLP messages the encoders write, named after their `.proto` fields.

A tag is `field number << 3 | wire type` as one varint (every field here is below 16, so one
byte). Numbers are from opentelemetry-proto (`common/v1/common.proto`, `resource/v1/resource.proto`,
`trace/v1/trace.proto`, `metrics/v1/metrics.proto`, the `collector/*/v1` services);
`tests/test_otlp_tags.py` checks each against the generated descriptors.
"""

from __future__ import annotations

from bridge.protowire import I64, LEN, VARINT


def tag(number: int, wire_type: int) -> bytes:
    """The tag of field `number` (1-15) with `wire_type`."""
    if not 0 < number < 16:
        raise ValueError(f"field {number} needs a multi-byte tag")
    return bytes([number << 3 | wire_type])


# common.v1.AnyValue
ANY_VALUE_STRING = tag(1, LEN)
ANY_VALUE_BOOL = tag(2, VARINT)
ANY_VALUE_INT = tag(3, VARINT)
ANY_VALUE_DOUBLE = tag(4, I64)
# common.v1.KeyValue
KEY_VALUE_KEY = tag(1, LEN)
KEY_VALUE_VALUE = tag(2, LEN)
# resource.v1.Resource
RESOURCE_ATTRIBUTES = tag(1, LEN)

# collector.trace.v1.ExportTraceServiceRequest, trace.v1.ResourceSpans / ScopeSpans
TRACE_REQUEST_RESOURCE_SPANS = tag(1, LEN)
RESOURCE_SPANS_RESOURCE = tag(1, LEN)
RESOURCE_SPANS_SCOPE_SPANS = tag(2, LEN)
RESOURCE_SPANS_SCHEMA_URL = tag(3, LEN)
SCOPE_SPANS_SCOPE = tag(1, LEN)
SCOPE_SPANS_SPANS = tag(2, LEN)
# trace.v1.Span and Status
SPAN_TRACE_ID = tag(1, LEN)
SPAN_SPAN_ID = tag(2, LEN)
SPAN_TRACE_STATE = tag(3, LEN)
SPAN_PARENT_SPAN_ID = tag(4, LEN)
SPAN_NAME = tag(5, LEN)
SPAN_KIND = tag(6, VARINT)
SPAN_START_TIME = tag(7, I64)
SPAN_END_TIME = tag(8, I64)
SPAN_ATTRIBUTES = tag(9, LEN)
SPAN_STATUS = tag(15, LEN)
STATUS_CODE = tag(3, VARINT)

# logs.v1.ResourceLogs
RESOURCE_LOGS_RESOURCE = tag(1, LEN)

# collector.metrics.v1.ExportMetricsServiceRequest, metrics.v1.ResourceMetrics / ScopeMetrics
METRICS_REQUEST_RESOURCE_METRICS = tag(1, LEN)
RESOURCE_METRICS_RESOURCE = tag(1, LEN)
RESOURCE_METRICS_SCOPE_METRICS = tag(2, LEN)
RESOURCE_METRICS_SCHEMA_URL = tag(3, LEN)
SCOPE_METRICS_SCOPE = tag(1, LEN)
SCOPE_METRICS_METRICS = tag(2, LEN)
# metrics.v1.Metric, Sum, Histogram
METRIC_NAME = tag(1, LEN)
METRIC_DESCRIPTION = tag(2, LEN)
METRIC_UNIT = tag(3, LEN)
METRIC_SUM = tag(7, LEN)
METRIC_HISTOGRAM = tag(9, LEN)
SUM_DATA_POINTS = tag(1, LEN)
SUM_AGGREGATION_TEMPORALITY = tag(2, VARINT)
SUM_IS_MONOTONIC = tag(3, VARINT)
HISTOGRAM_DATA_POINTS = tag(1, LEN)
HISTOGRAM_AGGREGATION_TEMPORALITY = tag(2, VARINT)
# metrics.v1.NumberDataPoint
NUMBER_POINT_START_TIME = tag(2, I64)
NUMBER_POINT_TIME = tag(3, I64)
NUMBER_POINT_AS_DOUBLE = tag(4, I64)
NUMBER_POINT_EXEMPLARS = tag(5, LEN)
NUMBER_POINT_AS_INT = tag(6, I64)
NUMBER_POINT_ATTRIBUTES = tag(7, LEN)
# metrics.v1.HistogramDataPoint
HISTOGRAM_POINT_START_TIME = tag(2, I64)
HISTOGRAM_POINT_TIME = tag(3, I64)
HISTOGRAM_POINT_COUNT = tag(4, I64)
HISTOGRAM_POINT_SUM = tag(5, I64)
HISTOGRAM_POINT_BUCKET_COUNTS = tag(6, LEN)
HISTOGRAM_POINT_EXPLICIT_BOUNDS = tag(7, LEN)
HISTOGRAM_POINT_EXEMPLARS = tag(8, LEN)
HISTOGRAM_POINT_ATTRIBUTES = tag(9, LEN)
HISTOGRAM_POINT_MIN = tag(11, I64)
HISTOGRAM_POINT_MAX = tag(12, I64)
# metrics.v1.Exemplar
EXEMPLAR_TIME = tag(2, I64)
EXEMPLAR_AS_DOUBLE = tag(3, I64)
EXEMPLAR_SPAN_ID = tag(4, LEN)
EXEMPLAR_TRACE_ID = tag(5, LEN)
EXEMPLAR_AS_INT = tag(6, I64)
