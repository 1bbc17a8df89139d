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
from bridge.spans import Reporters, SpanBuilder, SpanSet
from bridge.telemetry import SELF


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
    into the metrics aggregate (every entry, whatever later processors do with the spans)."""

    def __init__(
        self,
        resolver: IdentityResolver,
        reporters: Reporters,
        traces: FanOut,
        logs: FanOut,
        metrics: MetricsRecorder | None = None,
    ) -> None:
        self._resolver = resolver
        self._build = SpanBuilder(reporters).build
        self._traces = traces
        self._logs = logs
        self._metrics = metrics

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
        spans: list[Item] = []
        logs: list[Item] = []
        errors: list[str] = []
        recorded: list[tuple[EntryView, Ends, SpanSet]] = []
        for view in views:
            ends = resolve(view, local)
            if ends.peer_error:
                errors.append(ends.peer_error)
            span_set = build(view, ends)
            if metrics is not None:
                recorded.append((view, ends, span_set))
            if want_spans:
                spans += span_set.spans
            if want_logs:
                logs.append((local, build_log(view, ends, span_set, stream.log_name)))
        if metrics is not None and recorded:
            metrics.record_many(recorded)
        if spans:
            self._traces.consume(spans)
            SELF.add("als_bridge_spans_created_total", len(spans))
        if logs:
            self._logs.consume(logs)
        return errors
