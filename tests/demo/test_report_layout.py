"""How the report places spans and nodes, on data built here (the real run is in test_report)."""

from __future__ import annotations

from bridge.demo import analysis
from bridge.demo.report import _layers, _tree
from bridge.demo.sink import SpanRecord


def _span(service: str, span_id: str, parent: str, kind: str, start: int, end: int) -> SpanRecord:
    return SpanRecord({"service.name": service}, "t", span_id, parent, "GET", kind, start, end, False, {})


def test_server_spans_sit_under_their_client_and_orphan_clients_under_the_enclosing_server() -> None:
    # gw -> web -> db; web forwarded the incoming traceparent unchanged, so its CLIENT span's
    # parent is the user's span, which is not in the trace.
    spans = [
        _span("db", "4", "3", "SERVER", 40, 50),
        _span("web", "3", "user", "CLIENT", 30, 60),
        _span("web", "2", "1", "SERVER", 20, 80),
        _span("gw", "1", "user", "CLIENT", 10, 90),
    ]
    assert [(depth, s.span_id) for depth, s in _tree(spans)] == [(0, "1"), (1, "2"), (2, "3"), (3, "4")]


def test_a_client_span_outside_every_server_span_of_its_service_is_a_root() -> None:
    ms = 1_000_000
    spans = [
        _span("web", "2", "", "SERVER", 20 * ms, 30 * ms),
        _span("web", "3", "", "CLIENT", 40 * ms, 50 * ms),
    ]
    assert [(depth, s.span_id) for depth, s in _tree(spans)] == [(0, "2"), (0, "3")]


def test_graph_columns_follow_the_longest_path_from_the_entry() -> None:
    edges = [analysis.Edge("gw", "web"), analysis.Edge("web", "api"), analysis.Edge("gw", "api")]
    assert _layers(["api", "gw", "web"], edges) == {"gw": 0, "web": 1, "api": 2}
