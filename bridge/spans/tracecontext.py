"""Which trace a logged request belongs to, and the ids of the spans the bridge makes for it.

Precedence: a logged W3C `traceparent`, else B3 (the single `b3` header, else `x-b3-*`), else
ids derived from `x-request-id`. Envoy keeps a client's `x-request-id` across both sidecars and
generates one when it is missing, so both ends of a call see the same value and derive the same
ids, even when different bridge replicas receive the two entries.

Span ids are derived, never random, for the same reason: the client sidecar's entry and the
server sidecar's entry are converted independently, yet the SERVER span must name the CLIENT
span as its parent. The derivation key is what both ends can see of one hop:
(trace id, request id, the caller workload, the authority). The caller is part of the key
because an application that forwards `x-request-id` makes every hop of a chain share it; the
authority separates fan-out calls from one caller. Retries: every attempt reaches the server
with the same request id, so the SERVER span id also takes `x-envoy-attempt-count`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import NamedTuple

_TRACE_PERSON = b"als-bridge/trace"
_SPAN_PERSON = b"als-bridge/span"
SEP = b"\x1f"  # follows every part of a span id's derivation key
# Hashers with the parameters set, copied per id: a copy costs less than setting up a new one.
_TRACE_HASHER = hashlib.blake2b(digest_size=16, person=_TRACE_PERSON)
_SPAN_HASHER = hashlib.blake2b(digest_size=8, person=_SPAN_PERSON)


class TraceContext(NamedTuple):
    """A NamedTuple, not a frozen dataclass: one is made per entry, and a frozen dataclass's
    `__init__` costs several times more."""

    trace_id: bytes  # 16 bytes
    parent_span_id: bytes  # 8 bytes, or b"" when the request arrived without a parent
    source: str  # "traceparent" | "b3" | "x-b3" | "request-id" | "connection" | "none"


def _hex_id(text: str, length: int) -> bytes | None:
    """A non-zero lower-hex id of exactly `length` hex characters, else None."""
    if len(text) != length:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return raw if any(raw) else None


def _b3_trace_id(text: str) -> bytes | None:
    if len(text) == 16:  # 64-bit B3 trace ids are left-padded to 128 bits
        text = "0" * 16 + text
    return _hex_id(text, 32)


def _from_traceparent(value: str) -> TraceContext | None:
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff":
        return None
    trace_id = _hex_id(parts[1], 32)
    parent = _hex_id(parts[2], 16)
    if trace_id is None or parent is None:
        return None
    return TraceContext(trace_id, parent, "traceparent")


def _from_b3_single(value: str) -> TraceContext | None:
    parts = value.strip().split("-")
    if len(parts) < 2:  # "0" or "1" alone: a sampling decision, no ids
        return None
    trace_id = _b3_trace_id(parts[0])
    span_id = _hex_id(parts[1], 16)
    if trace_id is None or span_id is None:
        return None
    return TraceContext(trace_id, span_id, "b3")


def _from_b3_multi(headers: Mapping[str, str]) -> TraceContext | None:
    trace_id = _b3_trace_id(headers.get("x-b3-traceid", ""))
    span_id = _hex_id(headers.get("x-b3-spanid", ""), 16)
    if trace_id is None or span_id is None:
        return None
    return TraceContext(trace_id, span_id, "x-b3")


def derive_trace_id(key: str) -> bytes:
    return trace_id_from_key(key.encode())


def trace_id_from_key(key: bytes) -> bytes:
    """`derive_trace_id` of a key already encoded (the span builder encodes the request id once
    for the trace id and the span ids)."""
    hasher = _TRACE_HASHER.copy()
    hasher.update(key)
    digest = hasher.digest()
    return digest if any(digest) else b"\x00" * 15 + b"\x01"


def derive_span_id(*parts: str | bytes) -> bytes:
    """blake2b over the parts, each followed by 0x1f, in one call (the same bytes, so the same
    ids, as feeding the parts one by one)."""
    return span_id_from_key(b"".join([(p if isinstance(p, bytes) else p.encode()) + SEP for p in parts]))


def span_id_from_key(key: bytes) -> bytes:
    """`derive_span_id` of parts already joined (each followed by `SEP`): the span builder keeps
    the encoded parts that repeat (workload keys, authority) and joins the rest per entry."""
    hasher = _SPAN_HASHER.copy()
    hasher.update(key)
    digest = hasher.digest()
    return digest if any(digest) else b"\x00" * 7 + b"\x01"


def logged_context(headers: Mapping[str, str]) -> TraceContext | None:
    """The trace context propagated in the logged request headers, if any (header names
    lower-case). Most entries carry none: three probes then, nothing parsed."""
    if not headers or not ("traceparent" in headers or "b3" in headers or "x-b3-traceid" in headers):
        return None
    value = headers.get("traceparent")
    if value and (ctx := _from_traceparent(value)):
        return ctx
    value = headers.get("b3")
    if value and (ctx := _from_b3_single(value)):
        return ctx
    return _from_b3_multi(headers)


def extract(headers: Mapping[str, str], request_id: str) -> TraceContext:
    """The trace context of a logged HTTP request (header names lower-case)."""
    ctx = logged_context(headers)
    if ctx is not None:
        return ctx
    if request_id:
        return TraceContext(derive_trace_id(request_id), b"", "request-id")
    return TraceContext(b"", b"", "none")


def connection_context(client: str, server: str) -> TraceContext:
    """TCP has no headers: both sidecars see the same client and server socket addresses."""
    return TraceContext(derive_trace_id(f"tcp|{client}|{server}"), b"", "connection")
