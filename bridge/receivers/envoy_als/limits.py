"""Per-stream limits against broken or hostile ALS clients: an entry rate, and a value length.

Both run on the receiver's hot path, once per message or entry, so each is a few comparisons when
nothing is over its limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from operator import attrgetter

from bridge.decode import EntryView
from bridge.protowire import LEN, WireFormatError, fields

# The EntryView string fields a client fills freely. Left out: `method`, `protocol_version`,
# `tls_version` and `response_flags`, which the decoder builds from enums and so are short by
# construction, and `filter_state`, whose values are encoded peer metadata that a cut would only
# make undecodable (they stay bounded by max_recv_msg_size).
_STRING_FIELDS = (
    "downstream_remote_ip",
    "downstream_direct_remote_ip",
    "downstream_local_ip",
    "upstream_remote_ip",
    "upstream_local_ip",
    "upstream_cluster",
    "route_name",
    "upstream_transport_failure_reason",
    "connection_termination_details",
    "tls_peer_uri_san",
    "tls_local_uri_san",
    "scheme",
    "authority",
    "path",
    "user_agent",
    "request_id",
    "response_code_details",
)
_HEADER_FIELDS = ("request_headers", "response_headers", "response_trailers")
_strings = attrgetter(*_STRING_FIELDS)
_headers = attrgetter(*_HEADER_FIELDS)


class TokenBucket:
    """Admits up to `rate` entries per second, with a burst of one second's worth.

    Why a burst of a full second: Envoy sends what it buffered once per `buffer_flush_interval`
    (1 s by default), so a client well within the rate still delivers a second's entries at once.
    The bucket starts full at the first message, not when the stream opens, so a stream that idles
    before its first message is not penalised or rewarded for it.
    """

    __slots__ = ("_clock", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._tokens = rate
        self._last: float | None = None

    def take(self, wanted: int) -> int:
        """How many of `wanted` entries may pass now (whole entries only)."""
        now = self._clock()
        if self._last is not None:
            self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
        self._last = now
        granted = min(wanted, int(self._tokens))
        self._tokens -= granted
        return granted


def truncate_long_values(view: EntryView, limit: int) -> int:
    """Cut every string of `view` longer than `limit` characters, in place; returns how many were cut.

    Done right after decoding, so spans, logs, metrics and the identity cache never hold a value
    larger than the limit. Header names are not cut: Envoy logs only the headers its config names.
    """
    cut = 0
    if max(map(len, _strings(view))) > limit:  # one pass in C; the common case stops here
        cut += _cut_fields(view, limit)
    for headers in _headers(view):
        if headers and max(map(len, headers.values())) > limit:
            cut += _cut_values(headers, limit)
    return cut


def _cut_fields(view: EntryView, limit: int) -> int:
    cut = 0
    for name in _STRING_FIELDS:
        value: str = getattr(view, name)
        if len(value) > limit:
            setattr(view, name, value[:limit])
            cut += 1
    return cut


def _cut_values(headers: dict[str, str], limit: int) -> int:
    cut = 0
    for key, value in headers.items():
        if len(value) > limit:
            headers[key] = value[:limit]  # replacing a value keeps the dict's size: safe while iterating
            cut += 1
    return cut


# StreamAccessLogsMessage's `http_logs` and `tcp_logs`: each holds `repeated log_entry = 1`.
_LOGS_FIELD = {"http": 2, "tcp": 3}
_LOG_ENTRY = 1


def encoded_entry_sizes(raw: bytes, entry_type: str) -> list[int] | None:
    """The encoded size of each entry in the message `raw`, in order, read off the wire.

    Why: `max_value_length` needs to know which entries may hold a string over the limit, and
    an entry's encoded size bounds the length of every string in it. upb's `ByteSize()` encodes
    the entry again to tell; this walk only reads the length prefixes the sender wrote. Every
    string the view keeps lies inside its entry's bytes as sent, so a sent size within the limit
    rules out a long string as surely as `ByteSize()` does; a sent size over it (say, a field sent
    twice) only costs a `truncate_long_values` walk that cuts nothing. The cuts are the same.

    None when the message is not in the shape Envoy sends (the other kind of logs present, a
    group, a truncated field): the caller then asks upb.
    """
    wanted, other = _LOGS_FIELD[entry_type], _LOGS_FIELD["tcp" if entry_type == "http" else "http"]
    sizes: list[int] = []
    try:
        for number, wire_type, start, end in fields(raw):
            if number == other:
                return None  # a oneof switch: upb kept only the entries after it
            if number == wanted and wire_type == LEN:
                sizes += [
                    entry_end - entry_start
                    for field, field_type, entry_start, entry_end in fields(raw, start, end)
                    if field == _LOG_ENTRY and field_type == LEN
                ]
    except WireFormatError:
        return None
    return sizes
