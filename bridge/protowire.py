"""Reading the framing of protobuf's wire format: which fields a message holds, and where.

Why read framing ourselves: a few places need to know about a message without parsing it whole:
the receiver wants each ALS entry's encoded size (upb's `ByteSize()` would encode it again), and
the `prometheus` exporter wants one `Metric` at a time out of a request tens of megabytes long.
Only field numbers, wire types and lengths are read here; whatever is used is then parsed by
protobuf itself.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import DecodeError

VARINT, I64, LEN, I32 = 0, 1, 2, 5  # the wire types a proto3 message holds (groups are not read)


class WireFormatError(DecodeError):  # type: ignore[misc]  # protobuf is untyped here (Any)
    """The bytes are not a well-framed message: a truncated field, an overlong varint, a group."""


def read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """(value, position after it)."""
    value = shift = 0
    end = len(buf)
    while pos < end and shift <= 63:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise WireFormatError("truncated or overlong varint")


def fields(buf: bytes | memoryview, start: int = 0, end: int = -1) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, start, end) of each field of the message in buf[start:end].

    For a length-delimited field, start:end is its value; for the others it is the encoded
    value, which callers here only skip. The walk must end exactly at `end`."""
    pos = start
    end = len(buf) if end < 0 else end
    while pos < end:
        key, pos = read_varint(buf, pos)
        wire_type = key & 7
        if wire_type == LEN:
            length, pos = read_varint(buf, pos)
            value_start, pos = pos, pos + length
        elif wire_type == VARINT:
            value_start = pos
            _, pos = read_varint(buf, pos)
        elif wire_type in (I64, I32):
            value_start, pos = pos, pos + (8 if wire_type == I64 else 4)
        else:
            raise WireFormatError(f"unsupported wire type {wire_type}")
        if pos > end:
            raise WireFormatError("a field runs past the end of its message")
        yield key >> 3, wire_type, value_start, pos
