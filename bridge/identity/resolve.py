"""`IdentityResolver`: both ends of one access log entry, from whatever the entry carries.

Direction (ALS has no direction field; reference §7.3):
1. which metadata-exchange key is present: `downstream_peer`, `wasm.downstream_peer`,
   `envoy.wasm.metadata_exchange.downstream` -> INBOUND; the `upstream` ones -> OUTBOUND
   (pilot gives inbound HCMs only downstream discovery and outbound/gateway HCMs only upstream);
2. else the cluster name (`inbound|`, `InboundPassthroughCluster*` vs `outbound|`, `outbound_.`,
   `PassthroughCluster`, `BlackHoleCluster`);
3. else OUTBOUND. That covers gateways (`router~` nodes only originate calls upstream) and
   local replies with no cluster (no route, listener-level NR): inbound listeners route every
   request to an `inbound|` cluster, so a reply with no cluster was made on the outbound side.

Peer, for the chosen side, first hit wins:
1. filter state `<side>_peer` (Struct, 1.24+; also `<side>_peer_obj`, 1.29+);
2. `wasm.<side>_peer` (BytesValue(FlatNode), 1.6 - 1.23);
3. `envoy.wasm.metadata_exchange.<side>` (BytesValue(serialized upper-case Struct), 1.5);
   within 1 - 3 the value's type URL picks the decoder: a `StringValue`, or a `BytesValue`
   whose bytes are base64 text, is the `set_filter_state` / `envoy.string` form (source STRING);
4. the logged `x-envoy-peer-metadata` header: the *request* header on INBOUND, the *response*
   header on OUTBOUND (an outbound request header is this proxy's own identity);
5. the static map (INBOUND: downstream remote IP; OUTBOUND: upstream remote IP, cluster,
   authority), 6. the outbound cluster name, 7. the outbound authority.
A TCP `peer_not_found` (or `wasm.envoy.wasm.metadata_exchange.peer_unknown`) marker skips 1 - 4:
the exchange ran and found nothing. Steps 5 - 7 still apply, because they do not depend on the
peer running a proxy (a database behind a static entry is exactly that case).

A failed decode does not stop the search: the next source may still name the peer, and
`Ends.peer_error` keeps the first failure so the span can say why the metadata was unusable.

Cost: decoded peers (and errors) are cached by their raw bytes plus the raw peer id, so a
repeated blob costs one tuple hash and one dict probe, and the `Ends` of a repeated
(local, peer, direction) is handed out again rather than rebuilt. The cache is cleared when it reaches
`CACHE_SIZE` entries, which bounds memory against a stream of unique garbage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bridge.cache import BoundedCache, releasable
from bridge.decode.entry import EntryView, FilterStateValue
from bridge.identity.cluster_name import Direction, direction_from_cluster, workload_from_authority
from bridge.identity.cluster_name import workload_from_cluster as _from_cluster
from bridge.identity.config import StaticPeer
from bridge.identity.errors import PeerMetadataError
from bridge.identity.flatnode import workload_from_flatnode
from bridge.identity.headers import (
    PEER_METADATA_HEADER,
    PEER_METADATA_ID_HEADER,
    workload_from_base64_bytes,
    workload_from_header,
)
from bridge.identity.peer_struct import workload_from_struct_bytes
from bridge.identity.static_map import StaticPeerMap
from bridge.identity.workload import IdentitySource, Workload
from bridge.identity.wrappers import STRING_VALUE, STRUCT, is_wrapper, unwrap

CACHE_SIZE = 10_000
UNKNOWN_PEER = Workload()

# How the bytes under a key are laid out when the type URL alone does not say (BytesValue).
_STRUCTISH, _FLATNODE, _RAW_STRUCT = 0, 1, 2
# Per direction as separate tuples, chosen with `is`: an Enum's `__hash__` is Python code, so
# a dict keyed by `Direction` costs more per entry than the lookups it serves.
_INBOUND_PEER_KEYS = (
    ("downstream_peer", _STRUCTISH),
    ("downstream_peer_obj", _STRUCTISH),
    ("wasm.downstream_peer", _FLATNODE),
    ("envoy.wasm.metadata_exchange.downstream", _RAW_STRUCT),
)
_OUTBOUND_PEER_KEYS = (
    ("upstream_peer", _STRUCTISH),
    ("upstream_peer_obj", _STRUCTISH),
    ("wasm.upstream_peer", _FLATNODE),
    ("envoy.wasm.metadata_exchange.upstream", _RAW_STRUCT),
)
_INBOUND_ID_KEYS = (
    "downstream_peer_id",
    "wasm.downstream_peer_id",
    "envoy.wasm.metadata_exchange.downstream_id",
)
_OUTBOUND_ID_KEYS = (
    "upstream_peer_id",
    "wasm.upstream_peer_id",
    "envoy.wasm.metadata_exchange.upstream_id",
)
_ANY_ID_KEYS = frozenset(_INBOUND_ID_KEYS + _OUTBOUND_ID_KEYS)  # one probe when no id is logged
_INBOUND_KEYS = frozenset(k for k, _ in _INBOUND_PEER_KEYS)
_OUTBOUND_KEYS = frozenset(k for k, _ in _OUTBOUND_PEER_KEYS)
_PEER_UNKNOWN = "envoy.wasm.metadata_exchange.peer_unknown"
_NO_PEER_KEYS = frozenset({"peer_not_found", "wasm." + _PEER_UNKNOWN})
_ID_SENTINELS = frozenset({"", "unknown", _PEER_UNKNOWN})
_BASE64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_INBOUND, _OUTBOUND = Direction.INBOUND, Direction.OUTBOUND


class _Miss:
    """A cache probe's default: None is a cached result too (nothing decoded)."""


_MISS = _Miss()

_Decoded = Workload | PeerMetadataError | None


@dataclass(frozen=True, slots=True)
class Ends:
    """Both ends of an entry. `peer` has source UNKNOWN when nothing named it."""

    local: Workload
    peer: Workload
    direction: Direction
    peer_error: str  # "" or the first decode failure, e.g. "flatnode: truncated buffer at offset 40"
    caller: Workload | None = None  # a waypoint's entry only: who called through it (see `resolve`)


def detect_direction(view: EntryView) -> Direction:
    """INBOUND or OUTBOUND for an entry; the rules are in the module docstring."""
    fs = view.filter_state
    if fs:
        inbound = not _INBOUND_KEYS.isdisjoint(fs)
        outbound = not _OUTBOUND_KEYS.isdisjoint(fs)
        if inbound != outbound:
            return _INBOUND if inbound else _OUTBOUND
    by_cluster = direction_from_cluster(view.upstream_cluster)
    # No signal: gateways (`router~`) and local replies are outbound; see the module docstring.
    return by_cluster if by_cluster is not None else _OUTBOUND


def _looks_base64(data: bytes) -> bool:
    """True for base64 text; a FlatNode (a small LE root offset: NUL bytes) or Struct never is."""
    return bool(data) and not data.strip().translate(None, _BASE64_CHARS)


def _decode_state(layout: int, value: FilterStateValue, raw_id: FilterStateValue | None) -> Workload:
    """One filter-state peer value, decoder chosen by type URL, then by the key's layout."""
    node_id = _decode_id(raw_id)
    type_url = value.type_url
    if type_url.endswith(STRUCT):
        return workload_from_struct_bytes(value.value, IdentitySource.STRUCT, node_id)
    if not is_wrapper(type_url):
        raise PeerMetadataError("filter_state", f"unexpected type {type_url.rpartition('/')[2]!r}")
    inner = unwrap(type_url, value.value)
    if type_url.endswith(STRING_VALUE) or _looks_base64(inner):
        return workload_from_base64_bytes(inner, node_id)
    if layout == _FLATNODE:
        return workload_from_flatnode(inner, node_id)
    return workload_from_struct_bytes(inner, IdentitySource.STRUCT, node_id)


def _decode_id(value: FilterStateValue | None) -> str:
    """The peer's node id from a `*_peer_id` value; "" for sentinels and anything undecodable."""
    if value is None or not is_wrapper(value.type_url):
        return ""
    try:
        text = unwrap(value.type_url, value.value).decode("utf-8")
    except (PeerMetadataError, UnicodeDecodeError):
        return ""
    return "" if text in _ID_SENTINELS else text


def _decode_header(text: str, id_text: str | None) -> Workload:
    return workload_from_header(text, "" if id_text is None or id_text in _ID_SENTINELS else id_text)


class IdentityResolver:
    """Resolves the peer of each entry; holds the static map and the decode cache."""

    def __init__(self, static_peers: list[StaticPeer]) -> None:
        self._static = StaticPeerMap(static_peers)
        # not a `BoundedCache`: emptying it also lets go of the `Ends` memos below (event loop only)
        self._cache: dict[object, _Decoded] = {}
        # Ends handed out again, by (id(local), id(peer)), one map per direction; see `_ends`.
        self._inbound_ends: BoundedCache[tuple[int, int], Ends] = BoundedCache(CACHE_SIZE)
        self._outbound_ends: BoundedCache[tuple[int, int], Ends] = BoundedCache(CACHE_SIZE)
        self._waypoint_ends: BoundedCache[tuple[int, int, int], Ends] = BoundedCache(CACHE_SIZE)
        releasable(self)

    def clear(self) -> None:
        """Forgets every decoded peer (under memory pressure: they are decoded again)."""
        self._cache.clear()
        self._inbound_ends.clear()
        self._outbound_ends.clear()
        self._waypoint_ends.clear()

    def resolve(self, view: EntryView, local: Workload) -> Ends:
        """The two ends of `view`, reported by the proxy whose identity is `local`."""
        if local.is_waypoint:
            return self._waypoint(view, local)
        direction = detect_direction(view)
        peer, error = self._peer(view, direction)
        if error:
            return Ends(local, peer or UNKNOWN_PEER, direction, error)
        return self._ends(local, peer or UNKNOWN_PEER, direction)

    def _ends(self, local: Workload, peer: Workload, direction: Direction) -> Ends:
        """The same `Ends` object for a repeated (local, peer, direction) with no error.

        Why: building a frozen dataclass costs more than the rest of a cache-hit resolve, and
        the peers are the decode cache's own objects, so they repeat. Keyed by `id()` (hashing a
        `Workload` walks its fields); a held `Ends` keeps both objects alive, so their ids cannot
        be reused while it is held, and the `is` checks make that explicit."""
        memo = self._inbound_ends if direction is _INBOUND else self._outbound_ends
        key = (id(local), id(peer))
        ends = memo.get(key)
        if ends is not None and ends.local is local and ends.peer is peer:
            return ends
        return memo.put(key, Ends(local, peer, direction, ""))

    def _waypoint(self, view: EntryView, local: Workload) -> Ends:
        """An ambient waypoint sits between both ends of the call: pilot gives it downstream
        and upstream peer discovery (`waypoint_downstream_peer_metadata`, shared with the inner
        connection, and `waypoint_upstream_peer_metadata`, both by workload discovery), so its
        entry names the caller (`downstream_peer`) and the destination (`upstream_peer`). The
        Ends are OUTBOUND, the peer is the destination, `caller` the source."""
        peer, error = self._peer(view, _OUTBOUND)
        caller, caller_error = self._peer(view, _INBOUND)
        peer = peer or UNKNOWN_PEER
        caller = caller or UNKNOWN_PEER
        error = error or caller_error
        if error:
            return Ends(local, peer, _OUTBOUND, error, caller)
        key = (id(local), id(peer), id(caller))
        ends = self._waypoint_ends.get(key)
        if ends is not None and ends.local is local and ends.peer is peer and ends.caller is caller:
            return ends
        return self._waypoint_ends.put(key, Ends(local, peer, _OUTBOUND, "", caller))

    def _peer(self, view: EntryView, direction: Direction) -> tuple[Workload | None, str]:
        fs = view.filter_state
        error = ""
        if fs:
            if not _NO_PEER_KEYS.isdisjoint(fs):
                return self._fallback(view, direction), ""  # the exchange ran and found no peer
            found, error = self._from_filter_state(fs, direction)
            if found is not None:
                return found, error
        headers = view.request_headers if direction is _INBOUND else view.response_headers
        text = headers.get(PEER_METADATA_HEADER) if headers else None
        if text:
            id_text = headers.get(PEER_METADATA_ID_HEADER)
            key = ("h", text, id_text)
            result = self._cache.get(key, _MISS)
            if result is _MISS:
                result = self._decode(key, _decode_header, text, id_text)
            if isinstance(result, Workload):
                return result, error
            error = error or str(result)
        return self._fallback(view, direction), error

    def _from_filter_state(
        self, fs: dict[str, FilterStateValue], direction: Direction
    ) -> tuple[Workload | None, str]:
        """The first peer key of `direction` that decodes, and the first error met on the way.

        Cache key: (layout, value, raw id) with the `FilterStateValue` tuples themselves, so the
        type URLs and the full bytes are compared exactly on a hit: a different blob can never
        share a cached peer, and the same blob in new objects always finds it."""
        inbound = direction is _INBOUND
        raw_id = None
        if not _ANY_ID_KEYS.isdisjoint(fs):
            for id_key in _INBOUND_ID_KEYS if inbound else _OUTBOUND_ID_KEYS:
                raw_id = fs.get(id_key)
                if raw_id is not None:
                    break
        cache = self._cache
        error = ""
        for key, layout in _INBOUND_PEER_KEYS if inbound else _OUTBOUND_PEER_KEYS:
            value = fs.get(key)
            if value is None:
                continue
            cache_key = (layout, value, raw_id)
            result = cache.get(cache_key, _MISS)
            if result is _MISS:
                result = self._decode(cache_key, _decode_state, layout, value, raw_id)
            if isinstance(result, Workload):
                return result, error
            error = error or str(result)
        return None, error

    def _fallback(self, view: EntryView, direction: Direction) -> Workload | None:
        """Static map, then (outbound only) the cluster name and the authority."""
        if direction is _INBOUND:
            return self._static.match(ip=view.downstream_remote_ip or view.downstream_direct_remote_ip)
        static = self._static.match(view.upstream_remote_ip, view.upstream_cluster, view.authority)
        if static is not None:
            return static
        if view.upstream_cluster:
            found = self._cached(("c", view.upstream_cluster), _from_cluster, view.upstream_cluster)
            if isinstance(found, Workload):
                return found
        if view.authority:
            found = self._cached(("a", view.authority), workload_from_authority, view.authority)
            if isinstance(found, Workload):
                return found
        return None

    def _cached(self, key: object, decode: Callable[..., Workload | None], *args: object) -> _Decoded:
        """`decode(*args)`'s result (or its `PeerMetadataError`) for `key`, decoded once while cached."""
        found = self._cache.get(key, _MISS)
        if isinstance(found, _Miss):
            return self._decode(key, decode, *args)
        return found

    def _decode(self, key: object, decode: Callable[..., Workload | None], *args: object) -> _Decoded:
        """Decode on a cache miss and remember the result (or its `PeerMetadataError`) under `key`."""
        result: _Decoded
        try:
            result = decode(*args)
        except PeerMetadataError as err:  # counted per entry by the receiver, via Ends.peer_error
            result = err
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
            # the held Ends keep old peers alive; let them go with the cache that made them
            self._inbound_ends.clear()
            self._outbound_ends.clear()
            self._waypoint_ends.clear()
        self._cache[key] = result
        return result

    def cache_len(self) -> int:
        """Entries in the decode cache (tests and the bridge's own metrics)."""
        return len(self._cache)
