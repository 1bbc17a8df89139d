"""Metrics computed from every access log entry, aggregated in the bridge, exported as OTLP."""
