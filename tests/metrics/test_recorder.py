"""Two bridge processes (or workers) never write the same series: each has its own instance."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from bridge.identity import Direction, Ends
from bridge.metrics.config import MetricsConfig
from bridge.metrics.recorder import MetricsRecorder, new_instance_id
from bridge.otlp import MetricsEncoder
from bridge.spans import build_spans
from tests.metrics.support import PRODUCTPAGE, REVIEWS_PEER, http_view
from tests.otlp.reference import attributes_dict


def _series_identities(recorder: MetricsRecorder) -> set[tuple[str, str]]:
    """(job, instance) of every series the recorder exports, as Prometheus would name them."""
    view = http_view()
    ends = Ends(local=PRODUCTPAGE, peer=REVIEWS_PEER, direction=Direction.OUTBOUND, peer_error="")
    recorder.record(view, ends, build_spans(view, ends, "both"))
    request = ExportMetricsServiceRequest.FromString(
        MetricsEncoder().encode(recorder.collect()).SerializeToString()
    )
    out = set()
    for rm in request.resource_metrics:
        attrs = attributes_dict(rm.resource.attributes)
        job = f"{attrs.get('service.namespace', '')}/{attrs['service.name']}".lstrip("/")
        out.add((job, attrs["service.instance.id"]))
    return out


def test_two_bridge_instances_export_disjoint_series() -> None:
    first = _series_identities(MetricsRecorder(MetricsConfig(), "both"))
    second = _series_identities(MetricsRecorder(MetricsConfig(), "both"))
    assert first and second
    assert first.isdisjoint(second)
    # the workload's own resource (semconv) keeps the workload's identity next to the bridge's
    assert any(job == "default/productpage" and "@" in instance for job, instance in first)


def test_instance_ids_are_unique_within_one_process() -> None:
    assert len({new_instance_id() for _ in range(5)}) == 5
