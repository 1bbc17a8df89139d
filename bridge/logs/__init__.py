"""Logs: each entry as an OTLP log record, correlated with the span made from it."""

from bridge.logs.builder import build_log

__all__ = ["build_log"]
