"""Entries of one call as both sidecars log it, for the sampler tests: the CLIENT entry
(outbound, from a's sidecar) and the SERVER entry (inbound, from b's), built by code."""

from __future__ import annotations

from typing import Any

from bridge.decode import EntryView
from bridge.identity import Ends
from bridge.spans import SpanSet, build_spans
from tests.spans.test_builder import MS, grpc_view, http_view, inbound, outbound


def request_id(n: int) -> str:
    return f"9a1c{n:08x}-4b1e-4c1d-9d1e-rid"


def pair(
    n: int,
    *,
    server_ms: int = 10,
    network_ms: int = 2,
    client_only: dict[str, Any] | None = None,
    server_only: dict[str, Any] | None = None,
    **overrides: Any,
) -> list[tuple[EntryView, Ends, SpanSet]]:
    """Call number `n`: the CLIENT side's entry, whose upstream time holds the server side's
    whole duration plus the network, and the SERVER side's entry; `overrides` go to both,
    `client_only` / `server_only` to one (what one sidecar alone logs, such as its flags)."""
    client = http_view(
        request_id=request_id(n),
        last_downstream_tx_ns=(server_ms + network_ms + 1) * MS,
        last_upstream_rx_ns=(server_ms + network_ms) * MS,
        **{**overrides, **(client_only or {})},
    )
    server = http_view(
        request_id=request_id(n), last_downstream_tx_ns=server_ms * MS, **{**overrides, **(server_only or {})}
    )
    out, into = outbound(), inbound()
    return [
        (client, out, build_spans(client, out, "both")),
        (server, into, build_spans(server, into, "both")),
    ]


def grpc_pair(n: int, code: str) -> list[tuple[EntryView, Ends, SpanSet]]:
    out, into = outbound(), inbound()
    client = grpc_view(code, trailers=True, request_id=request_id(n))
    server = grpc_view(code, trailers=True, request_id=request_id(n))
    return [
        (client, out, build_spans(client, out, "both")),
        (server, into, build_spans(server, into, "both")),
    ]
