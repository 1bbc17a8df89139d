"""Every registered component type is created, started and shut down with its default config.

The Collector generates this test for each component: a type that validates but cannot start
fails here, not at a user's start-up. Each component runs where users put it, in a service built
from a loaded config, in one pipeline per signal it supports. The only changes to the defaults: a
listener's `0.0.0.0:port` becomes `127.0.0.1:0` (tests use loopback and any free port), and the
settings a type requires are given (`_REQUIRED`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from typing import Any

import pytest

from bridge import components
from bridge.components import parse_config
from bridge.factory import AnyFactory
from bridge.service import Service, build_service

SECTION = {"receiver": "receivers", "processor": "processors", "exporter": "exporters", "extension": "extensions"}


# Settings a type requires, having no useful default (the Collector's samplers neither): the
# least a user must write.
_REQUIRED: dict[str, dict[str, Any]] = {
    "probabilistic_sampler": {"sampling_percentage": 10},
    "tail_sampling": {
        "policies": [{"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}]
    },
}


def _loopback(factory: AnyFactory) -> dict[str, Any] | None:
    """The default config as a user would write it (nothing, or only what the type requires),
    with a listener moved to loopback."""
    if factory.type in _REQUIRED:
        return _REQUIRED[factory.type]
    default = factory.default_config()
    endpoint = getattr(default, "endpoint", "")
    if dataclasses.is_dataclass(default) and isinstance(endpoint, str) and endpoint.startswith("0.0.0.0:"):
        return {"endpoint": "127.0.0.1:0"}
    return None


def _config_around(factory: AnyFactory) -> dict[str, Any]:
    """A config with `factory`'s type in a pipeline of each signal it handles; the other stages are
    an `envoy_als` receiver and a `debug` exporter (or the type itself, when it is one of those)."""
    section = SECTION[factory.kind]
    sections: dict[str, dict[str, Any]] = {"receivers": {}, "processors": {}, "exporters": {}}
    if factory.kind == "extension":  # outside the pipelines: listed under service.extensions
        sections["receivers"]["envoy_als"] = {"endpoint": "127.0.0.1:0"}
        sections["exporters"]["debug"] = None
        return {
            **sections,
            "extensions": {factory.type: _loopback(factory)},
            "service": {
                "extensions": [factory.type],
                "pipelines": {"traces": {"receivers": ["envoy_als"], "exporters": ["debug"]}},
            },
        }
    sections[section][factory.type] = _loopback(factory)
    if factory.kind != "receiver":
        sections["receivers"]["envoy_als"] = {"endpoint": "127.0.0.1:0"}
    if factory.kind != "exporter":
        sections["exporters"]["debug"] = None
    pipelines = {
        signal: {key: list(sections[key]) for key in ("receivers", "processors", "exporters")}
        for signal in sorted(factory.signals)
    }
    return {**sections, "service": {"pipelines": pipelines}}


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _start_and_shut_down(service: Service) -> list[int]:
    await service.start()
    ports = [receiver.port for receiver in service.receivers]
    await service.shutdown(timeout=2)  # otlp defaults point at localhost:4317, where nothing listens
    return ports


def _factory_id(factory: AnyFactory) -> str:
    return f"{factory.kind}/{factory.type}"


@pytest.mark.parametrize("factory", list(components.FACTORIES), ids=_factory_id)
def test_component_starts_and_shuts_down_with_its_defaults(factory: AnyFactory) -> None:
    loaded = parse_config(_config_around(factory), "<lifecycle>")
    assert loaded.warnings == []
    service = build_service(loaded)

    built = {
        "receiver": lambda: [r.name for r in service.receivers],
        "exporter": lambda: [str(cid) for cid in service.exporters],
        "processor": lambda: [str(cid) for cid in loaded.processors],
        "extension": lambda: [str(eid) for eid in loaded.service.extensions],
    }[factory.kind]()
    assert factory.type in built
    assert len(service.pipelines) == (1 if factory.kind == "extension" else len(factory.signals))

    ports = asyncio.run(_start_and_shut_down(service))
    assert ports and all(port > 0 for port in ports), "every receiver listened on a port"
    assert all(_free(port) for port in ports), "shutdown released the receivers' ports"
