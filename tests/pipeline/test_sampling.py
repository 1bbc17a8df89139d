"""Samplers applied where spans are built: kept spans go on with their `tracestate`, dropped
ones cost no encoding, the metrics see every entry, and logs follow the traces or not."""

from __future__ import annotations

import random

import pytest

from bridge.components import parse_config
from bridge.config import ComponentID
from bridge.exporters.base import Signal
from bridge.identity import IdentityResolver
from bridge.metrics.config import MetricsConfig
from bridge.metrics.recorder import MetricsRecorder
from bridge.pipeline.consumer import FanOut
from bridge.pipeline.convert import EntryConverter, StreamState
from bridge.pipeline.sampling import Decision, chain
from bridge.processors.probabilistic_sampler import ProbabilisticSampler, ProbabilisticSamplerConfig
from bridge.service import Service, build_service
from bridge.spans import build_spans, builder
from bridge.spans.data import SpanData
from bridge.spans.probability import randomness_of
from bridge.telemetry import SELF
from tests.metrics.corpus import corpus, workloads
from tests.pipeline.test_convert import Collecting, _metrics


def _run(
    sample_logs_too: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[Collecting, Collecting, MetricsRecorder, list[SpanData]]:
    """The converter with a 50% sampler, and every span the entries give (the same random ids
    for entries without trace context: the builder's hook is seeded the same for both)."""
    monkeypatch.setattr(builder, "_random_bytes", random.Random(9).randbytes)
    views = [e.view for e in corpus(seed=5, count=400)]
    local = workloads(1)[0]
    half = ProbabilisticSampler("probabilistic_sampler", ProbabilisticSamplerConfig(50)).decide
    traces, logs = Collecting(), Collecting()
    recorder = MetricsRecorder(MetricsConfig(), "both", instance_id="i")
    converter = EntryConverter(
        IdentityResolver([]), "both", FanOut([traces]), FanOut([logs]), recorder,
        sample_traces=half, sample_logs=half if sample_logs_too else None,
    )  # fmt: skip
    stream = StreamState(peer="p", local=local)
    for start in range(0, len(views), 16):
        converter.convert(stream, views[start : start + 16])
    everything: list[SpanData] = []
    monkeypatch.setattr(builder, "_random_bytes", random.Random(9).randbytes)
    resolver = IdentityResolver([])
    for view in views:
        everything += [span for _, span in build_spans(view, resolver.resolve(view, local), "both").spans]
    return traces, logs, recorder, everything


def _all_entries_recorder() -> MetricsRecorder:
    views = [e.view for e in corpus(seed=5, count=400)]
    local = workloads(1)[0]
    recorder = MetricsRecorder(MetricsConfig(), "both", instance_id="i")
    resolver = IdentityResolver([])
    for view in views:
        ends = resolver.resolve(view, local)
        recorder.record(view, ends, build_spans(view, ends, "both"))
    return recorder


def test_only_kept_spans_go_on_each_with_its_threshold_and_metrics_count_every_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    SELF.reset()
    traces, logs, recorder, everything = _run(sample_logs_too=False, monkeypatch=monkeypatch)
    kept = [item[1] for item in traces.items]
    assert 0 < len(kept) < len(everything)
    assert all(randomness_of(span.trace_id) >= 2**55 for span in kept)
    assert all(span.trace_state == "ot=th:8" for span in kept)
    # every span whose trace id reaches the threshold, none of the others
    assert [s.span_id for s in kept] == [s.span_id for s in everything if randomness_of(s.trace_id) >= 2**55]
    # exemplars: only kept spans, each named with the value it was counted or timed with
    exemplars = [
        e
        for metrics in recorder.store.collect(1, 2, "cumulative").values()
        for metric in metrics
        for point in [*metric.sum.data_points, *metric.histogram.data_points]
        for e in point.exemplars
    ]
    kept_ids = {(s.trace_id, s.span_id) for s in kept}
    assert exemplars and all((e.trace_id, e.span_id) in kept_ids for e in exemplars)
    assert _metrics(recorder) == _metrics(_all_entries_recorder())
    assert len(logs.items) == 400  # logs without a sampler: every entry
    sampled = SELF.get("als_bridge_spans_sampled_total", decision="sampled", policy="probabilistic_sampler")
    dropped = SELF.get(
        "als_bridge_spans_sampled_total", decision="not_sampled", policy="probabilistic_sampler"
    )
    assert (sampled, sampled + dropped) == (len(kept), len(everything))


def test_a_logs_pipeline_with_the_same_sampler_keeps_the_records_of_kept_spans_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    traces, logs, _, _ = _run(sample_logs_too=True, monkeypatch=monkeypatch)
    kept_ids = {span.span_id for _, span in traces.items}
    records = [record for _, record in logs.items]
    assert 0 < len(records) < 400
    assert all(record.span_id in kept_ids for record in records if record.span_id)


def _fixed(keep: bool, policy: str, threshold: int, randomness: int | None = None) -> object:
    class Fixed:
        def decide(self, *_: object) -> Decision:
            return Decision(keep, policy, threshold, randomness)

    return Fixed()


def test_a_chain_drops_at_its_first_drop_and_keeps_at_its_largest_threshold() -> None:
    view, ends, spans = None, None, None
    decide = chain([_fixed(True, "a", 5), _fixed(True, "b", 9, 77), _fixed(True, "c", 0)])  # type: ignore[list-item]
    assert decide is not None
    assert decide(view, ends, spans) == Decision(True, "b", 9, 77)  # type: ignore[arg-type]
    decide = chain([_fixed(True, "a", 5), _fixed(False, "b", 9), _fixed(False, "c", 0)])  # type: ignore[list-item]
    assert decide is not None
    assert decide(view, ends, spans) == Decision(False, "b", 9)  # type: ignore[arg-type]
    assert chain([]) is None


def _service_config(traces: list[list[str]], logs: list[str] | None) -> dict[str, object]:
    pipelines: dict[str, object] = {
        f"traces/{n}": {"receivers": ["envoy_als"], "processors": procs, "exporters": ["debug"]}
        for n, procs in enumerate(traces)
    }
    if logs is not None:
        pipelines["logs"] = {"receivers": ["envoy_als"], "processors": logs, "exporters": ["debug"]}
    return {
        "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0"}},
        "processors": {
            "probabilistic_sampler": {"sampling_percentage": 10},
            "probabilistic_sampler/half": {"sampling_percentage": 50},
        },
        "exporters": {"debug": None},
        "service": {"pipelines": pipelines},
    }


def test_pipelines_of_one_signal_with_different_samplers_are_refused_at_start() -> None:
    config = parse_config(_service_config([["probabilistic_sampler"], ["probabilistic_sampler/half"]], None))
    with pytest.raises(
        ValueError, match=r"receivers.envoy_als: its traces pipelines list different samplers"
    ):
        build_service(config)


def test_a_logs_pipeline_with_the_traces_samplers_shares_their_decision() -> None:
    same = Service(parse_config(_service_config([["probabilistic_sampler"]], ["probabilistic_sampler"])))
    same.build()
    samplers = same._samplers_of(ComponentID("envoy_als"))
    assert samplers[Signal.TRACES] is samplers[Signal.LOGS]
    alone = Service(parse_config(_service_config([["probabilistic_sampler"]], [])))
    alone.build()
    assert Signal.LOGS not in alone._samplers_of(ComponentID("envoy_als"))
