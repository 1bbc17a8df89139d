"""What a backend says it rejected in an otherwise successful export (`partial_success`).

The OpenTelemetry Python exporters never read this field; the Collector logs it. We count the
rejected items under `als_bridge_export_failed_items_total{reason="partial_success"}` and log
a rate-limited warning, so a backend that silently drops (say, spans too old to ingest) shows up.
The request still counts as exported: the backend accepted it.
"""

from __future__ import annotations

import logging
from typing import Any

from bridge.exporters.base import Signal
from bridge.telemetry import SELF, RateLimitedLogger

_log = RateLimitedLogger(logging.getLogger(__name__))

_REJECTED_FIELD = {
    Signal.TRACES: "rejected_spans",
    Signal.METRICS: "rejected_data_points",
    Signal.LOGS: "rejected_log_records",
}


def report_partial_success(exporter: str, signal: Signal, response: Any) -> int:
    """Counts and logs what `response` (an `Export*ServiceResponse`) rejected; returns that count."""
    if not response.HasField("partial_success"):
        return 0
    partial = response.partial_success
    rejected = int(getattr(partial, _REJECTED_FIELD[signal]))
    message = str(partial.error_message)
    if rejected == 0 and not message:
        return 0
    if rejected:
        SELF.add(
            "als_bridge_export_failed_items_total",
            rejected,
            exporter=exporter,
            signal=signal.value,
            reason="partial_success",
        )
    _log.warning(
        f"partial_success:{exporter}:{signal.value}",
        "%s: backend rejected %d %s: %s",
        exporter,
        rejected,
        signal.value,
        message or "(no message)",
    )
    return rejected
