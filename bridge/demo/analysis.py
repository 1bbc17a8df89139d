"""What the view, the summary and the report show, computed from what the bridge exported.

Edges come from the bridge's service-graph metrics (`traces_service_graph_*`), the RED table
from its Istio metrics (`istio_requests_total`, `istio_request_duration_milliseconds`), the kind
of each node (Kubernetes, VM, gateway, external) from the resources of its spans, and the
example traces from the spans. Quantiles are estimated from histogram buckets the way
Prometheus' `histogram_quantile` does (linear within the bucket).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bridge.demo.sink import DemoSink, Labels, Series, SpanRecord

KUBERNETES, VM, GATEWAY, EXTERNAL = "Kubernetes", "VM", "gateway", "external"


def quantile(q: float, series: Iterable[Series]) -> float | None:
    """`histogram_quantile(q, sum(...))` over the given histogram series (same bounds); None if empty."""
    bounds: tuple[float, ...] = ()
    counts: list[int] = []
    for s in series:
        if not s.buckets:
            continue
        if not counts:
            bounds, counts = s.bounds, [0] * len(s.buckets)
        if s.bounds == bounds:
            counts = [a + b for a, b in zip(counts, s.buckets, strict=True)]
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if seen + count >= rank and count:
            lower = bounds[i - 1] if i > 0 else 0.0
            if i >= len(bounds):  # the +Inf bucket: the highest finite bound, as Prometheus answers
                return bounds[-1] if bounds else None
            return lower + (bounds[i] - lower) * (rank - seen) / count
        seen += count
    return bounds[-1] if bounds else None


def _get(labels: Labels, key: str) -> str:
    for k, v in labels:
        if k == key:
            return v
    return ""


@dataclass
class Edge:
    client: str
    server: str
    requests: float = 0.0
    failed: float = 0.0
    p50_s: float | None = None
    p99_s: float | None = None
    rate: float = 0.0  # requests per second, over the last update interval (the view sets it)

    @property
    def error_ratio(self) -> float:
        return self.failed / self.requests if self.requests else 0.0


def edges(sink: DemoSink) -> list[Edge]:
    """One edge per (client, server) of `traces_service_graph_request_total`, every connection
    type summed; latency from the client side's histogram, else the server side's."""
    by_key: dict[tuple[str, str], Edge] = {}
    for labels, s in sink.metric("traces_service_graph_request_total").items():
        key = (_get(labels, "client"), _get(labels, "server"))
        edge = by_key.setdefault(key, Edge(*key))
        edge.requests += s.value
    for labels, s in sink.metric("traces_service_graph_request_failed_total").items():
        key = (_get(labels, "client"), _get(labels, "server"))
        if key in by_key:
            by_key[key].failed += s.value
    latencies: dict[str, dict[tuple[str, str], list[Series]]] = {}
    for side in ("client", "server"):
        name = f"traces_service_graph_request_{side}_seconds"
        for labels, s in sink.metric(name).items():
            key = (_get(labels, "client"), _get(labels, "server"))
            latencies.setdefault(side, {}).setdefault(key, []).append(s)
    for key, edge in by_key.items():
        for side in ("client", "server"):
            series = latencies.get(side, {}).get(key, [])
            if sum(s.count for s in series):
                edge.p50_s, edge.p99_s = quantile(0.5, series), quantile(0.99, series)
                break
    return sorted(by_key.values(), key=lambda e: (e.client, e.server))


@dataclass
class Node:
    name: str
    kind: str  # KUBERNETES | VM | GATEWAY | EXTERNAL
    resource: dict[str, Any] = field(default_factory=dict)
    called: bool = True  # some edge ends here (False: it only calls, e.g. the users outside the mesh)

    @property
    def identity(self) -> str:
        """How the bridge placed it: the pod, or the VM's host, or nothing (no sidecar)."""
        if "k8s.pod.name" in self.resource:
            return f"k8s.pod.name={self.resource['k8s.pod.name']}"
        if "host.name" in self.resource:
            return f"host.name={self.resource['host.name']}"
        if not self.called:
            return "outside the mesh: a caller with no identity"
        return "no sidecar: named by the caller's cluster or authority"

    @property
    def placement(self) -> str:
        """A short form of `identity` for the graph: "pod NAME", "host NAME", "no sidecar"."""
        if "k8s.pod.name" in self.resource:
            return f"pod {self.resource['k8s.pod.name']}"
        if "host.name" in self.resource:
            return f"host {self.resource['host.name']}"
        return "no sidecar" if self.called else "outside the mesh"


def nodes(sink: DemoSink, graph: list[Edge]) -> dict[str, Node]:
    """Every node of the graph with its kind, from the resource of its own spans.

    A pod's resource has `k8s.pod.name`, a VM's `host.name` and no pod. A node with a resource
    that no other node with a resource calls is where traffic enters the mesh: the gateway.
    A node without spans of its own has no sidecar: external (or a database without a sidecar).
    """
    resources: dict[str, dict[str, Any]] = {}
    for trace in sink.traces():
        for span in trace:
            resources.setdefault(span.service, span.resource)
    names = sorted({e.client for e in graph} | {e.server for e in graph})
    result: dict[str, Node] = {}
    for name in names:
        resource = resources.get(name, {})
        if "host.name" in resource and "k8s.pod.name" not in resource:
            kind = VM
        elif resource:
            kind = KUBERNETES
        else:
            kind = EXTERNAL
        result[name] = Node(name, kind, resource, called=any(e.server == name for e in graph))
    for node in result.values():
        callers = [e.client for e in graph if e.server == node.name and resources.get(e.client)]
        if node.resource and not callers:
            node.kind = GATEWAY
    return result


@dataclass
class Red:
    service: str
    reporter: str  # whose sidecar counted: "destination" (the service's own) or "source" (its callers')
    requests: float
    errors: float
    p50_ms: float | None
    p99_ms: float | None
    protocols: str


def _is_error(labels: Labels) -> bool:
    code = _get(labels, "response_code")
    grpc_status = _get(labels, "grpc_response_status")
    return code.startswith("5") or (
        _get(labels, "request_protocol") == "grpc" and grpc_status not in ("", "0")
    )


def red(sink: DemoSink) -> list[Red]:
    """Rate, errors and duration per destination service from `istio_requests_total` and
    `istio_request_duration_milliseconds`, as the destination's sidecar reported them, or as
    the callers' did for a service without a sidecar. Errors: 5xx, and gRPC statuses other than OK.
    TCP-only services get their connections from `istio_tcp_connections_opened_total`."""
    requests = sink.metric("istio_requests_total")
    durations = sink.metric("istio_request_duration_milliseconds")
    services = sorted(
        {_get(labels, "destination_canonical_service") for labels in requests}
        | {
            _get(labels, "destination_canonical_service")
            for labels in sink.metric("istio_tcp_connections_opened_total")
        }
    )
    rows: list[Red] = []
    for service in services:
        mine = {lb: s for lb, s in requests.items() if _get(lb, "destination_canonical_service") == service}
        reporter = "destination" if any(_get(lb, "reporter") == "destination" for lb in mine) else "source"
        chosen = {lb: s for lb, s in mine.items() if _get(lb, "reporter") == reporter}
        if chosen:
            total = sum(s.value for s in chosen.values())
            errors = sum(s.value for lb, s in chosen.items() if _is_error(lb))
            hist = [
                s
                for lb, s in durations.items()
                if _get(lb, "destination_canonical_service") == service and _get(lb, "reporter") == reporter
            ]
            protocols = ", ".join(sorted({_get(lb, "request_protocol") for lb in chosen}))
            rows.append(
                Red(service, reporter, total, errors, quantile(0.5, hist), quantile(0.99, hist), protocols)
            )
            continue
        tcp = sink.metric("istio_tcp_connections_opened_total")
        opened = {lb: s for lb, s in tcp.items() if _get(lb, "destination_canonical_service") == service}
        if opened:
            reporter = (
                "destination" if any(_get(lb, "reporter") == "destination" for lb in opened) else "source"
            )
            total = sum(s.value for lb, s in opened.items() if _get(lb, "reporter") == reporter)
            rows.append(Red(service, reporter, total, 0.0, None, None, "tcp"))
    return [r for r in rows if r.service and r.service != "unknown"]


def example_traces(sink: DemoSink, count: int = 3) -> list[list[SpanRecord]]:
    """`count` traces worth looking at: the one with the most services, one with an error, one
    with the slowest root; each has CLIENT and SERVER spans of at least two services."""
    candidates = [t for t in sink.traces() if len({s.service for s in t}) >= 2 and len(t) >= 4]

    def services(t: list[SpanRecord]) -> int:
        return len({s.service for s in t})

    def span_of(t: list[SpanRecord]) -> int:
        return max(s.end_ns for s in t) - min(s.start_ns for s in t)

    def has_error(t: list[SpanRecord]) -> bool:
        return any(s.error for s in t)

    picks: list[tuple[Callable[[list[SpanRecord]], Any], Callable[[list[SpanRecord]], bool]]] = [
        (lambda t: (services(t), len(t)), lambda t: True),
        (lambda t: (services(t), len(t)), has_error),
        (span_of, lambda t: True),
    ]
    chosen: list[list[SpanRecord]] = []
    for key, wanted in picks:
        pool = [t for t in candidates if wanted(t) and t not in chosen]
        if pool:
            chosen.append(max(pool, key=key))
        if len(chosen) == count:
            break
    return chosen


def fmt_ms(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
