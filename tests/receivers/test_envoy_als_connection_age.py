"""`max_connection_age` with real Envoy: connections are recycled on schedule, nothing is lost.

Two Envoy sidecars send ALS to a bridge whose connections age out after 2 s (plus 1 s grace).
Over 10 s of steady traffic each sidecar's stream must be ended and re-opened several times, and
every request sent must still arrive as its CLIENT and SERVER span with both workloads named:
Envoy opens a new stream after the close and starts it with its identifier again.
"""

from __future__ import annotations

import time
import uuid

import pytest

from bridge.demo import Mesh
from bridge.demo.mesh import Which
from bridge.telemetry import SELF
from tests.support.bridge import running_bridge, traces_and_logs_config
from tests.support.otlp_sink import OTLPSink, attributes

pytestmark = pytest.mark.envoy

AGE_S, GRACE_S = 2.0, 1.0
TRAFFIC_S = 10.0
INTERVAL_S = 0.05


def test_streams_are_recycled_on_schedule_and_every_entry_arrives() -> None:
    receiver = {"max_connection_age": f"{AGE_S}s", "max_connection_age_grace": f"{GRACE_S}s"}
    with OTLPSink() as sink:
        config = traces_and_logs_config(otlp_grpc=sink.grpc_endpoint, receiver=receiver)
        with running_bridge(config) as service:
            port = service.receivers[0].port
            streams_before = SELF.get("als_bridge_streams_total")
            dropped_before = SELF.get("als_bridge_entries_dropped_total")
            with Mesh(als_address=f"127.0.0.1:{port}", reporters="both") as mesh:
                sent: list[str] = []
                deadline = time.monotonic() + TRAFFIC_S
                while time.monotonic() < deadline:
                    request_id = f"age-{uuid.uuid4()}"
                    assert mesh.http_get("/status/200", headers={"x-request-id": request_id}) == 200
                    sent.append(request_id)
                    time.sleep(INTERVAL_S)

                def spans_by_request() -> dict[str, list[str]]:
                    got: dict[str, list[str]] = {}
                    for resource, span in sink.spans():
                        rid = attributes(span.attributes).get("envoy.request_id", "")
                        got.setdefault(rid, []).append(resource["service.name"])
                    return got

                arrived = sink.wait_for(
                    lambda: all(len(spans_by_request().get(r, [])) == 2 for r in sent), 30
                )
                got = spans_by_request()
                missing = [r for r in sent if len(got.get(r, [])) != 2]
                assert arrived and not missing, (
                    f"{len(missing)} of {len(sent)} requests lack a span: {missing[:5]}"
                )
                # both ends named: each new stream began with the sidecar's identifier
                assert all(sorted(got[r]) == ["a", "b"] for r in sent)
                streams = SELF.get("als_bridge_streams_total") - streams_before
                drops = SELF.get("als_bridge_entries_dropped_total") - dropped_before
                envoy_log_stats = {w: _grpc_access_log_stats(mesh, w) for w in ("a", "b")}
    # each sidecar's HTTP stream: opened once, then again after every age + grace (at most
    # 2.2 s with gRPC's jitter, + 1 s): at least 3 times in 10 s each, 2 sidecars
    assert streams >= 6, f"only {streams} streams were opened in {TRAFFIC_S:.0f} s"
    assert drops == 0
    # Envoy's own account: it wrote every entry to a stream and dropped none
    for which, stats in envoy_log_stats.items():
        assert stats["logs_written"] >= len(sent), (which, stats)
        assert stats["logs_dropped"] == 0, (which, stats)


def _grpc_access_log_stats(mesh: Mesh, which: Which) -> dict[str, int]:
    """Envoy's `access_logs.grpc_access_log.logs_written` / `logs_dropped` of sidecar `which`."""
    stats = mesh.envoy_stats(which)
    return {
        name: int(stats[f"access_logs.grpc_access_log.{name}"]) for name in ("logs_written", "logs_dropped")
    }
