"""Protobuf wire format, written: varints, length-delimited fields, OTLP attributes from a cache.

Why by hand: building one protobuf `KeyValue`/`AnyValue` object per attribute costs microseconds
each, and a span carries about twenty; the same (key, value) pairs repeat from span to span
(method, scheme, cluster, route, peer identity). Writing the wire format directly, with each
repeating pair encoded once and kept, costs a fraction of that and gives the same message: the
golden tests parse both and compare them field by field.
"""

from __future__ import annotations

import struct
import threading

from bridge.attributes import AttrValue
from bridge.cache import BoundedCache, releasable
from bridge.otlp.tags import (
    ANY_VALUE_BOOL,
    ANY_VALUE_DOUBLE,
    ANY_VALUE_INT,
    ANY_VALUE_STRING,
    KEY_VALUE_KEY,
    KEY_VALUE_VALUE,
)

SMALL_VARINTS = [bytes([n]) for n in range(128)]
pack_fixed64 = struct.Struct("<Q").pack
pack_sfixed64 = struct.Struct("<q").pack
pack_double = struct.Struct("<d").pack

# Attribute keys whose values are different for nearly every span: encoding them on the fly
# is cheaper than filling the cache with pairs that never repeat. (Addresses and user agents
# repeat, one per workload or client library, so they are cached.)
UNCACHED_KEYS = frozenset(
    {
        "envoy.request_id",
        "url.path",
        "url.query",
        "url.full",
        "network.peer.port",
        "http.request.body.size",
        "http.response.body.size",
        "envoy.tcp.received_bytes",
        "envoy.tcp.sent_bytes",
    }
)
_KV_CACHE_LIMIT = 100_000


def varint(n: int) -> bytes:
    if 0 <= n < 128:
        return SMALL_VARINTS[n]
    if 0 < n < 16384:  # most message lengths: two bytes
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    if 0 < n < 2097152:  # ports, sizes
        return bytes(((n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, n >> 14))
    n &= 0xFFFFFFFFFFFFFFFF  # negative int64: ten bytes, two's complement
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def len_field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag, the payload's length, the payload."""
    return tag + varint(len(payload)) + payload


_TRUE = ANY_VALUE_BOOL + b"\x01"
_FALSE = ANY_VALUE_BOOL + b"\x00"


def any_value(value: AttrValue) -> bytes:
    """An `AnyValue` message's bytes; an int past int64 is written as its text, as the protobuf
    path (`bridge.otlp.common.any_value`) does."""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return ANY_VALUE_INT + varint(value)
        return len_field(ANY_VALUE_STRING, str(value).encode())
    if isinstance(value, float):
        return ANY_VALUE_DOUBLE + pack_double(value)
    return len_field(ANY_VALUE_STRING, str(value).encode())


_KEY_FIELDS: BoundedCache[str, bytes] = BoundedCache(10_000)


def key_field(key: str) -> bytes:
    """KeyValue.key's field bytes, made once per key (keys are a small fixed set of names, the
    same for every encoder, so one cache serves all)."""
    encoded = _KEY_FIELDS.get(key)
    if encoded is None:
        encoded = _KEY_FIELDS.put(key, len_field(KEY_VALUE_KEY, key.encode()))
    return encoded


def key_value(key: str, value: AttrValue) -> bytes:
    """A `KeyValue` message's bytes (not yet wrapped as a field)."""
    return key_field(key) + len_field(KEY_VALUE_VALUE, any_value(value))


class AttributeEncoder:
    """Attribute fields under one tag (Span's, a data point's) with repeating pairs cached.

    String values, nearly all of them, are found in a dict per key: two probes on strings,
    whose hashes Python keeps, and no key tuple to build per attribute. Other values are cached
    by (key, value, type): True == 1 == 1.0 but they encode differently. Owned by one encoder;
    a miss takes the lock, so the batch timer thread and the event loop can share it.
    """

    def __init__(self, tag: bytes, max_entries: int = _KV_CACHE_LIMIT) -> None:
        self._tag = tag
        self._max = max_entries
        # two levels, one bound (`BoundedCache` holds one level): counted together in `_size`
        self._strings: dict[str, dict[str, bytes]] = {}
        self._others: dict[tuple[str, AttrValue, type], bytes] = {}
        self._size = 0
        self._lock = threading.Lock()
        releasable(self)

    def clear(self) -> None:
        with self._lock:
            self._strings.clear()
            self._others.clear()
            self._size = 0

    def field(self, key: str, value: AttrValue) -> bytes:
        if type(value) is str:
            by_value = self._strings.get(key)
            if by_value is not None:
                encoded = by_value.get(value)
                if encoded is not None:
                    return encoded
        if key in UNCACHED_KEYS:
            return len_field(self._tag, key_value(key, value))
        return self._miss(key, value)

    def _miss(self, key: str, value: AttrValue) -> bytes:
        encoded = len_field(self._tag, key_value(key, value))
        with self._lock:
            if self._size >= self._max:
                self._strings.clear()
                self._others.clear()
                self._size = 0
            if type(value) is str:
                self._strings.setdefault(key, {})[value] = encoded
            else:
                encoded = self._others.setdefault((key, value, type(value)), encoded)
            self._size += 1
        return encoded
