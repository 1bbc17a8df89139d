"""Reading protobuf framing: fields and their places, checked against what protobuf encodes."""

from __future__ import annotations

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import NumberDataPoint

from bridge.protowire import I64, LEN, VARINT, WireFormatError, fields, read_varint


def test_fields_name_each_field_and_where_its_value_is() -> None:
    point = NumberDataPoint(time_unix_nano=5, as_int=-3, flags=300)
    point.attributes.append(KeyValue(key="k", value=AnyValue(string_value="v" * 200)))
    raw = point.SerializeToString()
    found = list(fields(raw))
    assert [(number, wire_type) for number, wire_type, _, _ in found] == [
        (3, I64),  # time_unix_nano, fixed64
        (6, I64),  # as_int, sfixed64
        (7, LEN),  # attributes
        (8, VARINT),  # flags
    ]
    _, _, start, end = found[2]
    assert KeyValue.FromString(raw[start:end]).value.string_value == "v" * 200
    assert read_varint(raw, found[3][2]) == (300, len(raw))


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x05ab",  # a length past the end
        b"\x08\xff\xff",  # a varint cut short
        b"\x08" + b"\xff" * 10 + b"\x01",  # a varint over 64 bits
        b"\x0b\x0c",  # a group (wire type 3)
        b"\x09\x01\x02",  # a fixed64 cut short
    ],
)
def test_bad_framing_is_an_error_not_a_guess(raw: bytes) -> None:
    with pytest.raises(WireFormatError):
        list(fields(raw))
