"""The per-entry work after decoding: identity of both ends, then spans and log records.

This is the hot path: one call per entry, plain data in, items out, nothing looked up twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.decode import EntryView
from bridge.identity import Ends, IdentityResolver, Workload
from bridge.logs import build_log
from bridge.metrics.recorder import MetricsRecorder
from bridge.pipeline.consumer import FanOut, Item
from bridge.pipeline.sampling import Decide, Decision
from bridge.spans import Reporters, SpanBuilder, SpanSet
from bridge.telemetry import SELF

SELF.describe(
    "als_bridge_spans_sampled_total",
    "counter",
    "Spans by sampling decision (sampled, not_sampled) and the processor/policy that decided",
)


@dataclass(slots=True)
class StreamState:
    """What the bridge remembers about one ALS stream: Envoy sends the identifier only once."""

    peer: str  # the gRPC peer, for log messages
    local: Workload | None = None
    log_name: str = ""
    node_id: str = ""
    warned: set[str] = field(default_factory=set)


class EntryConverter:
    """Turns decoded entries into items for the traces and logs consumers, and records them
    into the metrics aggregate (every entry, whatever the samplers decide about its spans).

    `sample_traces` is the traces pipelines' sampler processors joined into one decision per
    entry (`bridge.pipeline.sampling`), taken right after the spans are built: a dropped
    entry's spans are never queued or encoded. `sample_logs` is the logs pipelines' own; when it
    is the same function, the decision is reused (log records of kept spans only).
    """

    def __init__(
        self,
        resolver: IdentityResolver,
        reporters: Reporters,
        traces: FanOut,
        logs: FanOut,
        metrics: MetricsRecorder | None = None,
        sample_traces: Decide | None = None,
        sample_logs: Decide | None = None,
    ) -> None:
        self._resolver = resolver
        self._build = SpanBuilder(reporters).build
        self._traces = traces
        self._logs = logs
        self._metrics = metrics
        self._sample_traces = sample_traces if traces else None
        self._sample_logs = sample_logs if logs else None

    @property
    def signals(self) -> tuple[str, ...]:
        """The per-entry signals this converter feeds ("traces", "logs")."""
        return tuple(name for name, fan in (("traces", self._traces), ("logs", self._logs)) if fan)

    def convert(
        self, stream: StreamState, views: list[EntryView], spans_open: bool = True, logs_open: bool = True
    ) -> list[str]:
        """Convert one message's entries; returns the peer-metadata errors seen (for the caller
        to count and log once per stream).

        `spans_open` / `logs_open` False: the traces (logs) pipelines cannot take more now, so no
        span (log record) is handed on, batched or encoded; the caller counts them as dropped.
        The metrics still see every entry. Without a metrics pipeline nor another open signal, the
        spans are not even built.

        Hot path: bound methods and flags are read once per message, and the metrics recorder
        takes its lock once per message (`record_many`), not once per entry."""
        local = stream.local
        assert local is not None
        resolve, build, metrics = self._resolver.resolve, self._build, self._metrics
        want_spans, want_logs = bool(self._traces) and spans_open, bool(self._logs) and logs_open
        if metrics is None and not want_spans and not want_logs and not (spans_open and logs_open):
            return []  # everything this message would feed is closed: nothing to build
        sample_traces = self._sample_traces if want_spans else None
        sample_logs = self._sample_logs if want_logs else None
        logs_follow_traces = sample_logs is not None and sample_logs is sample_traces
        spans: list[Item] = []
        logs: list[Item] = []
        errors: list[str] = []
        recorded: list[tuple[EntryView, Ends, SpanSet, bool]] = []
        counts: dict[tuple[bool, str], int] = {}
        for view in views:
            ends = resolve(view, local)
            if ends.peer_error:
                errors.append(ends.peer_error)
            span_set = build(view, ends)
            decision: Decision | None = None
            if sample_traces is not None and span_set.spans:
                decision = sample_traces(view, ends, span_set)
                key = (decision.keep, decision.policy)
                counts[key] = counts.get(key, 0) + len(span_set.spans)
                if decision.keep:
                    state = decision.trace_state
                    for _, span in span_set.spans:
                        span.trace_state = state
                    spans += span_set.spans
            elif want_spans:
                spans += span_set.spans
            if metrics is not None:  # exemplars name exported spans only
                kept = want_spans and (decision is None or decision.keep)
                recorded.append((view, ends, span_set, kept))
            if want_logs:
                if sample_logs is not None and span_set.spans:
                    if not logs_follow_traces:
                        decision = sample_logs(view, ends, span_set)
                    if decision is not None and not decision.keep:
                        continue
                logs.append((local, build_log(view, ends, span_set, stream.log_name)))
        if metrics is not None and recorded:
            metrics.record_many(recorded)
        if spans:
            self._traces.consume(spans)
            SELF.add("als_bridge_spans_created_total", len(spans))
        for (keep, policy), count in counts.items():
            SELF.add(
                "als_bridge_spans_sampled_total",
                count,
                decision="sampled" if keep else "not_sampled",
                policy=policy,
            )
        if logs:
            self._logs.consume(logs)
        return errors
