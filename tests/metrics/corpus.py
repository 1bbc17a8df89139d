"""A varied, seeded corpus of entries for comparing the recorder's plans with the families' own
path: HTTP, gRPC and TCP, both directions, peers with and without mx identity, errors, flags,
TLS, many workloads, and entry fields that no label reads (paths, ports, ids) varied too."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from bridge.decode import EntryView
from bridge.identity import Direction, Ends, IdentitySource, Workload
from tests.metrics.support import MS, START, as_peer


@dataclass(frozen=True)
class Entry:
    view: EntryView
    ends: Ends


def workloads(count: int) -> list[Workload]:
    """Sidecars with their own node metadata; some fields left empty to exercise `unknown`s."""
    out = []
    for i in range(count):
        namespace = ("default", "shop", "")[i % 3]
        out.append(
            Workload(
                service=f"svc{i % 7}" if i % 5 else "",
                namespace=namespace,
                version=f"v{i % 3}" if i % 4 else "",
                workload=f"svc{i % 7}-v{i % 3}",
                workload_kind="deployment",
                instance=f"svc{i}-pod",
                app=f"svc{i % 7}" if i % 2 else "",
                app_version=f"v{i % 3}",
                cluster="Kubernetes" if i % 6 else "",
                principal=f"spiffe://cluster.local/ns/{namespace}/sa/sa{i % 4}" if i % 3 else "",
                source=IdentitySource.NODE,
            )
        )
    return out


def peers(locals_: list[Workload]) -> list[Workload]:
    """Peers as the resolver would hand them out: one object per identity, reused."""
    out = [as_peer(w, source) for w in locals_ for source in (IdentitySource.STRUCT, IdentitySource.HEADER)]
    out.append(as_peer(locals_[0]))  # equal to out[0], another object: keyed apart, same series
    out += [
        Workload(service="postgres", namespace="databases", source=IdentitySource.STATIC),
        Workload(service="reviews", namespace="default", source=IdentitySource.CLUSTER),
        Workload(service="api.example.com", source=IdentitySource.AUTHORITY),
        Workload(),
    ]
    return out


def _pick(rng: random.Random, *choices: Any) -> Any:
    return rng.choice(choices)


def _http_fields(rng: random.Random, grpc: bool) -> dict[str, Any]:
    code = _pick(rng, 200, 200, 200, 201, 404, 429, 503, 0)
    fields: dict[str, Any] = dict(
        is_tcp=False,
        method=_pick(rng, "GET", "POST", "", "_OTHER"),
        scheme=_pick(rng, "http", "https", ""),
        authority=_pick(rng, "reviews:9080", "reviews", "api.example.com", "[::1]:8080", ":81", ""),
        path=f"/items/{rng.randrange(1000)}?q={rng.randrange(9)}",
        protocol_version=_pick(rng, "1.1", "2", ""),
        response_code=code,
        request_id=f"rid-{rng.randrange(10**6)}",
        user_agent=_pick(rng, "curl/8", "Go-http-client/1.1"),
        request_headers_bytes=rng.randrange(50, 400),
        request_body_bytes=rng.randrange(0, 5000),
        response_headers_bytes=rng.randrange(50, 400),
        response_body_bytes=rng.randrange(0, 50000),
        wire_bytes_received=_pick(rng, 0, rng.randrange(100, 9000)),
        wire_bytes_sent=_pick(rng, 0, rng.randrange(100, 90000)),
        last_downstream_tx_ns=_pick(rng, rng.randrange(0, 3000 * MS), -1),
        duration_ns=rng.randrange(0, 4000 * MS),
    )
    if grpc:
        status = _pick(rng, None, "0", "0", "14", "2", "5", "abc", "99")
        where = _pick(rng, "trailers", "headers")
        fields.update(
            method="POST",
            path=_pick(rng, "/shop.Cart/Add", "/shop.Cart/Get", "/", ""),
            request_headers={"content-type": _pick(rng, "application/grpc", "application/grpc+proto")},
            response_trailers={"grpc-status": status} if status is not None and where == "trailers" else {},
            response_headers={"grpc-status": status} if status is not None and where == "headers" else {},
        )
    elif rng.random() < 0.2:
        fields["request_headers"] = {"content-type": "application/json"}
    return fields


def _tcp_fields(rng: random.Random) -> dict[str, Any]:
    return dict(
        is_tcp=True,
        duration_ns=rng.randrange(0, 60_000 * MS),
        tcp_received_bytes=rng.randrange(0, 10**6),
        tcp_sent_bytes=rng.randrange(0, 10**7),
    )


def entry(rng: random.Random, locals_: list[Workload], peers_: list[Workload]) -> Entry:
    """One random entry between two of the given workloads."""
    kind = _pick(rng, "http", "http", "grpc", "tcp")
    fields = _tcp_fields(rng) if kind == "tcp" else _http_fields(rng, kind == "grpc")
    inbound = rng.random() < 0.5
    local, peer = rng.choice(locals_), rng.choice(peers_)
    tls = inbound and rng.random() < 0.6
    fields.update(
        start_ns=START + rng.randrange(10**9),
        response_flags=_pick(rng, "", "", "", "UF", "UH,NR", "DC", "URX,UF"),
        upstream_cluster=(
            _pick(rng, "inbound|9080||", "InboundPassthroughClusterIpv4", "")
            if inbound
            else _pick(
                rng,
                "outbound|9080||reviews.default.svc.cluster.local",
                "outbound|5432|v1|postgres.databases.svc.cluster.local",
                "PassthroughCluster",
                "BlackHoleCluster",
                "",
            )
        ),
        route_name=_pick(rng, "default", "block_all", "allow_any", ""),
        upstream_remote_ip=_pick(rng, "10.0.0.2", "10.0.0.3", "127.0.0.6"),
        upstream_remote_port=_pick(rng, 9080, 5432, 0),
        upstream_local_ip="10.0.0.1",
        upstream_local_port=rng.randrange(30000, 60000),
        downstream_remote_ip=_pick(rng, "10.0.0.1", "10.0.0.7"),
        downstream_remote_port=rng.randrange(30000, 60000),
        downstream_local_ip=_pick(rng, "10.0.0.2", "10.0.0.4"),
        downstream_local_port=_pick(rng, 9080, 8080),
        tls_peer_uri_san=peer.principal if tls else "",
        tls_local_uri_san=local.principal if tls else "",
    )
    direction = Direction.INBOUND if inbound else Direction.OUTBOUND
    return Entry(EntryView(**fields), Ends(local=local, peer=peer, direction=direction, peer_error=""))


def corpus(seed: int, count: int, workload_count: int = 12) -> list[Entry]:
    """`count` entries; entries repeat (same fields but fresh values) so plans are reused."""
    rng = random.Random(seed)
    locals_ = workloads(workload_count)
    peers_ = peers(locals_)
    distinct = [entry(rng, locals_, peers_) for _ in range(count // 4 or 1)]
    out = []
    for _ in range(count):
        base = rng.choice(distinct)
        # a repeat: the same labels' inputs, new values and new unlabelled fields
        view = replace(
            base.view,
            duration_ns=rng.randrange(0, 5000 * MS),
            last_downstream_tx_ns=_pick(rng, -1, rng.randrange(0, 3000 * MS)),
            request_body_bytes=rng.randrange(0, 5000),
            tcp_sent_bytes=rng.randrange(0, 10**6),
            downstream_remote_port=rng.randrange(30000, 60000),
            request_id=f"rid-{rng.randrange(10**6)}",
        )
        if not view.request_headers.get("content-type", "").startswith("application/grpc"):
            view.path = f"/items/{rng.randrange(1000)}"  # no label reads an HTTP path
        out.append(Entry(view, base.ends) if rng.random() < 0.7 else entry(rng, locals_, peers_))
    return out
