"""`EntryConverter.convert` does per message exactly what its stages do entry by entry.

The converter takes the metrics lock once per message and hoists its lookups; these tests pin
that it still records every entry, in order, with the ends and spans the stages would give.
"""

from __future__ import annotations

from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from bridge.identity import IdentityResolver
from bridge.metrics.config import MetricsConfig
from bridge.metrics.recorder import MetricsRecorder
from bridge.pipeline.consumer import FanOut, Item
from bridge.pipeline.convert import EntryConverter, StreamState
from bridge.spans import build_spans
from bridge.spans.data import SpanData
from tests.fixtures.metadata import any_bytes, entry_view
from tests.metrics.corpus import corpus, workloads


class Collecting:
    """A consumer that keeps what it is given."""

    def __init__(self) -> None:
        self.items: list[Item] = []

    def consume(self, items: list[Item]) -> None:
        self.items.extend(items)


def _metrics(recorder: MetricsRecorder) -> list[tuple[object, list[Metric]]]:
    """The aggregate, without exemplars: those name span ids, random for entries without trace
    context (tests/metrics/test_exemplars.py checks them)."""
    collected = recorder.store.collect_encoded(1, 2, "cumulative")
    out = [(r, [Metric.FromString(b) for b, _ in metrics]) for r, metrics in collected.items()]
    for _, metrics in out:
        for metric in metrics:
            for point in [*metric.sum.data_points, *metric.histogram.data_points]:
                point.ClearField("exemplars")
    return out


def _span(item: Item) -> tuple[object, ...]:
    workload, span = item
    assert isinstance(span, SpanData)
    shape = span.shape  # compared by content: shapes are per-plan objects, equal only to themselves
    facts = (shape.name, shape.kind, shape.status_code, shape.attributes, shape.dynamic_keys)
    return workload, facts, span.start_time_unix_nano, span.dynamic_values


def test_convert_records_and_emits_what_the_stages_give_entry_by_entry() -> None:
    views = [e.view for e in corpus(seed=3, count=120)]
    local = workloads(1)[0]
    traces = Collecting()
    got = MetricsRecorder(MetricsConfig(), "both", instance_id="i")
    converter = EntryConverter(IdentityResolver([]), "both", FanOut([traces]), FanOut([]), got)
    stream = StreamState(peer="p", local=local)
    for start in range(0, len(views), 16):
        assert converter.convert(stream, views[start : start + 16]) == []

    want = MetricsRecorder(MetricsConfig(), "both", instance_id="i")
    resolver = IdentityResolver([])
    want_spans: list[Item] = []
    for view in views:
        ends = resolver.resolve(view, local)
        span_set = build_spans(view, ends, "both")
        want.record(view, ends, span_set)
        want_spans.extend(span_set.spans)
    assert _metrics(got) == _metrics(want)
    # ids may be random (unpaired spans), so compare what the entry decides: resource, shape, values
    assert [_span(item) for item in traces.items] == [_span(item) for item in want_spans]


def test_convert_returns_every_peer_error_and_works_without_metrics() -> None:
    bad = entry_view(filter_state={"wasm.downstream_peer": any_bytes(b"\xff" * 40)})
    converter = EntryConverter(IdentityResolver([]), "both", FanOut([]), FanOut([]))
    errors = converter.convert(StreamState(peer="p", local=workloads(1)[0]), [bad, bad])
    assert len(errors) == 2
    assert errors[0] == errors[1] != ""
