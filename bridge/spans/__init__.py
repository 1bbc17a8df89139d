"""Spans: one access log entry with identified ends -> OTLP spans."""

from bridge.spans.builder import Reporters, SpanBuilder, SpanSet, build_spans

__all__ = ["Reporters", "SpanBuilder", "SpanSet", "build_spans"]
