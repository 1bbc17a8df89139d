"""The service builds pipelines through the factories; connectors join pipelines downstream-first."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bridge import components
from bridge.components import parse_config
from bridge.config import ComponentID
from bridge.exporters.base import Signal
from bridge.factory import ConnectorFactory, ProcessorFactory, Settings
from bridge.pipeline.consumer import Consumer, Item
from bridge.service import build_service


@dataclass
class Nothing:
    """A config with no settings."""


class Recorder:
    """A processor that keeps what it is given, and whether it was shut down."""

    def __init__(self) -> None:
        self.batches: list[list[Item]] = []
        self.shut_down = False

    def consume(self, items: list[Item]) -> None:
        self.batches.append(items)

    def flush(self) -> None:
        pass

    def shutdown(self) -> None:
        self.shut_down = True


RECORDERS: list[Recorder] = []
CONNECTED: list[tuple[Settings, Consumer]] = []


def _record(settings: Settings, config: Nothing, next_consumer: Consumer) -> Recorder:
    RECORDERS.append(Recorder())
    return RECORDERS[-1]


def _forward(settings: Settings, config: Nothing, next_consumer: Consumer) -> Consumer:
    CONNECTED.append((settings, next_consumer))
    return next_consumer


RECORD = ProcessorFactory(type="record", config_class=Nothing, create=_record)
FORWARD = ConnectorFactory(
    type="forward", config_class=Nothing, create=_forward, routes=frozenset({("traces", "traces")})
)


@pytest.fixture
def registered() -> Iterator[None]:
    components.register(RECORD)
    components.register(FORWARD)
    try:
        yield
    finally:
        components.unregister(RECORD)
        components.unregister(FORWARD)
        RECORDERS.clear()
        CONNECTED.clear()


@pytest.mark.usefixtures("registered")
def test_a_connector_feeds_the_pipelines_it_is_a_receiver_of() -> None:
    config = parse_config(
        {
            "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0"}},
            "processors": {"record": None},
            "connectors": {"forward": None},
            "exporters": {"debug": None},
            "service": {
                "pipelines": {
                    "traces/in": {"receivers": ["envoy_als"], "exporters": ["forward"]},
                    "traces/out": {
                        "receivers": ["forward"],
                        "processors": ["record"],
                        "exporters": ["debug"],
                    },
                }
            },
        },
        "<test>",
    )
    service = build_service(config)
    ((settings, _),) = CONNECTED
    assert settings.id == ComponentID("forward") and settings.signal is Signal.TRACES
    items: list[Item] = [("workload", "span")]
    service.heads[ComponentID("traces", "in")].consume(items)
    (recorder,) = RECORDERS
    assert recorder.batches == [items]
    assert [r.name for r in service.receivers] == ["envoy_als"]
    asyncio.run(service.shutdown(timeout=2))
    assert recorder.shut_down
