"""Spans: one access log entry with identified ends -> OTLP spans."""

from bridge.spans.builder import Reporters, SpanSet, build_spans

__all__ = ["Reporters", "SpanSet", "build_spans"]
