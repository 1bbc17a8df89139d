from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.telemetry import SELF
from tests.support.otlp_sink import OTLPSink


@pytest.fixture(autouse=True)
def _fresh_counters() -> None:
    """Every test starts from zero, so counts can be asserted exactly."""
    SELF.reset()


@pytest.fixture
def sink() -> Iterator[OTLPSink]:
    with OTLPSink() as running:
        yield running


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> object:
    """CA, server and client certificates; skips the test when `cryptography` is missing."""
    pytest.importorskip("cryptography")
    from tests.support.certs import make_certs

    directory: Path = tmp_path_factory.mktemp("certs")
    return make_certs(directory)
