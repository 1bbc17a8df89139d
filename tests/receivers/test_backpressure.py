"""`sending_queue.on_full: block`: a full exporter queue pauses reading instead of dropping."""

from __future__ import annotations

import threading
import time

from bridge.telemetry import SELF
from tests.fixtures.als import http_entry, message, send_stream
from tests.support.bridge import running_bridge
from tests.support.otlp_sink import OTLPSink


def test_full_blocking_queue_pauses_the_stream_and_loses_nothing() -> None:
    SELF.reset()
    with OTLPSink() as sink:
        sink.set_down(True)
        config = {
            "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0"}},
            "exporters": {
                "otlp": {
                    "endpoint": sink.grpc_endpoint,
                    "tls": {"insecure": True},
                    "sending_queue": {"queue_size": 10, "on_full": "block"},
                    "retry_on_failure": {
                        "initial_interval": "50ms",
                        "max_interval": "200ms",
                        "max_elapsed_time": "0s",
                    },
                }
            },
            "service": {"pipelines": {"traces": {"receivers": ["envoy_als"], "exporters": ["otlp"]}}},
        }
        with running_bridge(config) as service:
            port = service.receivers[0].port
            messages = [
                message([http_entry(request_id=f"bp-{i}-{j}") for j in range(5)], identify=i == 0)
                for i in range(20)
            ]
            sender = threading.Thread(
                target=send_stream, args=(port, [m.SerializeToString() for m in messages], 30)
            )
            sender.start()
            time.sleep(1.5)
            assert sender.is_alive(), "the bridge kept reading although its only exporter's queue is full"
            assert SELF.get("als_bridge_dropped_items_total") == 0
            sink.set_down(False)
            sender.join(30)
            assert not sender.is_alive()
            assert sink.wait_for(lambda: len(sink.spans()) >= 100, timeout=20)
        ids = [s.attributes for _, s in sink.spans()]
        assert len(ids) == 100
        assert SELF.get("als_bridge_dropped_items_total") == 0
