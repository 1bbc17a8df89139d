"""The figures the demo derives from exported metrics: quantiles from buckets, node kinds."""

from __future__ import annotations

from bridge.demo import analysis
from bridge.demo.sink import DemoSink, Series, SinkState, SpanRecord


def test_quantile_interpolates_within_the_bucket_as_histogram_quantile_does() -> None:
    # 10 observations <= 1, 10 in (1, 2], none above: the median is the top of the first bucket,
    # p75 halfway through the second.
    series = Series(value=20, count=20, bounds=(1.0, 2.0), buckets=(10, 10, 0))
    assert analysis.quantile(0.5, [series]) == 1.0
    assert analysis.quantile(0.75, [series]) == 1.5
    assert analysis.quantile(0.5, []) is None


def test_quantile_sums_series_and_answers_the_highest_bound_for_the_inf_bucket() -> None:
    a = Series(count=1, bounds=(1.0, 2.0), buckets=(0, 0, 1))
    b = Series(count=1, bounds=(1.0, 2.0), buckets=(0, 0, 1))
    assert analysis.quantile(0.99, [a, b]) == 2.0


def _span(service: str, resource: dict[str, str]) -> SpanRecord:
    return SpanRecord(
        {"service.name": service, **resource}, "t", service, "", "GET", "SERVER", 0, 1, False, {}
    )


def test_node_kinds_come_from_span_resources_and_the_graph() -> None:
    sink = DemoSink()
    sink.state = SinkState()
    sink.state.traces["t"] = [
        _span("gw", {"k8s.pod.name": "gw-1"}),
        _span("web", {"k8s.pod.name": "web-1"}),
        _span("vm-app", {"host.name": "vm-1"}),
    ]
    graph = [
        analysis.Edge("user", "gw", 3),
        analysis.Edge("gw", "web", 3),
        analysis.Edge("web", "vm-app", 2),
        analysis.Edge("vm-app", "db", 1),
    ]
    nodes = analysis.nodes(sink, graph)
    kinds = {name: node.kind for name, node in nodes.items()}
    assert kinds == {
        "user": "external",
        "gw": "gateway",
        "web": "Kubernetes",
        "vm-app": "VM",
        "db": "external",
    }
    assert nodes["vm-app"].identity == "host.name=vm-1"
    assert nodes["db"].placement == "no sidecar"
    assert nodes["user"].placement == "outside the mesh"
