"""Fixtures of the metric family tests: two bookinfo-like workloads, entries between them, and a
reader that turns a store's OTLP output back into {labels: value} for assertions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from bridge.decode import EntryView
from bridge.identity import Direction, Ends, IdentitySource, Workload
from bridge.metrics.store import MetricStore, ResourceKey
from bridge.spans import Reporters, SpanSet, build_spans
from tests.otlp.reference import attributes_dict

START = 1_700_000_000_000_000_000
MS = 1_000_000

# The client (productpage) and the server (reviews) as their own node metadata names them ...
PRODUCTPAGE = Workload(
    service="productpage",
    namespace="default",
    version="v1",
    workload="productpage-v1",
    workload_kind="deployment",
    instance="productpage-v1-1",
    app="productpage",
    app_version="v1",
    cluster="Kubernetes",
    principal="spiffe://cluster.local/ns/default/sa/bookinfo-productpage",
    source=IdentitySource.NODE,
)
REVIEWS = Workload(
    service="reviews",
    namespace="default",
    version="v2",
    workload="reviews-v2",
    workload_kind="deployment",
    instance="reviews-v2-1",
    app="reviews",
    app_version="v2",
    cluster="Kubernetes",
    principal="spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
    source=IdentitySource.NODE,
)


def as_peer(w: Workload, source: IdentitySource = IdentitySource.STRUCT) -> Workload:
    """`w` as the other side's metadata exchange names it (no instance-level detail needed)."""
    return Workload(
        service=w.service,
        namespace=w.namespace,
        version=w.version,
        workload=w.workload,
        workload_kind=w.workload_kind,
        app=w.app,
        app_version=w.app_version,
        cluster=w.cluster,
        principal=w.principal,
        source=source,
    )


REVIEWS_PEER = as_peer(REVIEWS)
PRODUCTPAGE_PEER = as_peer(PRODUCTPAGE)
POSTGRES_STATIC = Workload(service="postgres", namespace="databases", source=IdentitySource.STATIC)
REVIEWS_BY_CLUSTER = Workload(service="reviews", namespace="default", source=IdentitySource.CLUSTER)
EXTERNAL = Workload(service="api.example.com", source=IdentitySource.AUTHORITY)
UNKNOWN = Workload()

PEER_SAN = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
LOCAL_SAN = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"


def http_view(**overrides: Any) -> EntryView:
    """productpage -> reviews, GET 200, 12 ms, as an outbound entry unless overridden."""
    fields: dict[str, Any] = dict(
        is_tcp=False,
        start_ns=START,
        last_downstream_tx_ns=12 * MS,
        method="GET",
        scheme="http",
        authority="reviews:9080",
        path="/reviews/0?x=1",
        request_id="rid-1",
        protocol_version="1.1",
        response_code=200,
        upstream_cluster="outbound|9080||reviews.default.svc.cluster.local",
        upstream_remote_ip="10.0.0.2",
        upstream_remote_port=9080,
        downstream_remote_ip="10.0.0.1",
        downstream_remote_port=40000,
        downstream_local_ip="10.0.0.2",
        downstream_local_port=9080,
        route_name="default",
        request_headers_bytes=100,
        request_body_bytes=20,
        response_headers_bytes=200,
        response_body_bytes=300,
    )
    fields.update(overrides)
    return EntryView(**fields)


def inbound_view(**overrides: Any) -> EntryView:
    """The server side of the same call, with mTLS."""
    fields: dict[str, Any] = dict(
        upstream_cluster="inbound|9080||",
        tls_peer_uri_san=PEER_SAN,
        tls_local_uri_san=LOCAL_SAN,
        upstream_remote_ip="127.0.0.6",
    )
    fields.update(overrides)
    return http_view(**fields)


def grpc_view(status: str | None, **overrides: Any) -> EntryView:
    trailers = {"grpc-status": status} if status is not None else {}
    fields: dict[str, Any] = dict(
        method="POST",
        path="/bookinfo.Ratings/Get",
        protocol_version="2",
        request_headers={"content-type": "application/grpc"},
        response_headers={"content-type": "application/grpc"},
        response_trailers=trailers,
    )
    fields.update(overrides)
    return http_view(**fields)


def tcp_view(**overrides: Any) -> EntryView:
    fields: dict[str, Any] = dict(
        is_tcp=True,
        start_ns=START,
        duration_ns=2000 * MS,
        upstream_cluster="outbound|5432||postgres.databases.svc.cluster.local",
        upstream_remote_ip="10.0.9.9",
        upstream_remote_port=5432,
        upstream_local_ip="10.0.0.1",
        upstream_local_port=50000,
        tcp_received_bytes=1000,
        tcp_sent_bytes=5000,
    )
    fields.update(overrides)
    return EntryView(**fields)


def outbound(peer: Workload = REVIEWS_PEER, local: Workload = PRODUCTPAGE) -> Ends:
    return Ends(local=local, peer=peer, direction=Direction.OUTBOUND, peer_error="")


def inbound(peer: Workload = PRODUCTPAGE_PEER, local: Workload = REVIEWS) -> Ends:
    return Ends(local=local, peer=peer, direction=Direction.INBOUND, peer_error="")


def spans_of(view: EntryView, ends: Ends, reporters: Reporters) -> SpanSet:
    return build_spans(view, ends, reporters)


@dataclass
class Point:
    labels: dict[str, Any]
    value: float  # counter value, or histogram count
    total: float = 0.0  # histogram sum
    buckets: tuple[int, ...] = ()
    bounds: tuple[float, ...] = ()


def metric(store: MetricStore, name: str, resource: ResourceKey = None) -> Metric | None:
    """The OTLP metric `name` of one resource (a fresh cumulative collection)."""
    for candidate in store.collect(0, 1, "cumulative").get(resource, []):
        if candidate.name == name:
            return candidate
    return None


def points(store: MetricStore, name: str, resource: ResourceKey = None) -> list[Point]:
    """The data points of `name` on `resource`, labels as a dict (empty labels are left out)."""
    found = metric(store, name, resource)
    if found is None:
        return []
    if found.WhichOneof("data") == "sum":
        return [
            Point(attributes_dict(p.attributes), p.as_int if p.HasField("as_int") else p.as_double)
            for p in found.sum.data_points
        ]
    return [
        Point(
            attributes_dict(p.attributes),
            p.count,
            p.sum,
            tuple(p.bucket_counts),
            tuple(p.explicit_bounds),
        )
        for p in found.histogram.data_points
    ]


def only(store: MetricStore, name: str, resource: ResourceKey = None) -> Point:
    found = points(store, name, resource)
    assert len(found) == 1, [p.labels for p in found]
    return found[0]
