"""The metric stores after one real-Envoy traffic run, shared by every test of this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.mesh_metrics import MeshMetrics, mesh_metrics


@pytest.fixture(scope="package")
def metric_stores() -> Iterator[MeshMetrics]:
    """VictoriaMetrics (OTLP) and Prometheus (scrape) holding the bridge's metrics of
    `tests.support.mesh_metrics`' traffic; started once for the package, stopped after it."""
    with mesh_metrics() as stores:
        yield stores
