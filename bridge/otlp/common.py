"""What every OTLP request of the bridge carries: its scope, schema URL, and protobuf attributes.

The protobuf path (`any_value`, `key_values`) serves what is built as messages: log records,
resources, and the metric families' protobuf reference. Spans and metric points are written as
bytes (`bridge.otlp.wire`).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue

from bridge.attributes import AttrValue

try:
    BRIDGE_VERSION = version("als-bridge")
except PackageNotFoundError:  # running from a source tree that was not installed
    BRIDGE_VERSION = "0.0.0"

SCOPE = InstrumentationScope(name="als-bridge", version=BRIDGE_VERSION)
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"


def any_value(value: AttrValue) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return AnyValue(int_value=value)
        return AnyValue(string_value=str(value))  # past int64 (a uint64 field of a broken sender)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def key_values(attributes: Iterable[tuple[str, AttrValue]]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attributes]
