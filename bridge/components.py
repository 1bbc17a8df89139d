"""Every component type the bridge has: the list of their factories (see `bridge.factory`).

Adding a component is one folder (`bridge/<kind>s/<type>/` with `config.py`, the component and
`factory.py`) and one line below. The config loader and `als-bridge validate` take their type
tables from this list, and the service builds every component through it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from bridge import config as _config
from bridge.config import Kind, Signal
from bridge.exporters import debug, otlp, otlphttp, prometheus
from bridge.extensions import health_check
from bridge.factory import AnyFactory, FactoryTable
from bridge.processors import batch, memory_limiter, probabilistic_sampler, tail_sampling
from bridge.receivers import envoy_als

FACTORIES: list[AnyFactory] = [
    envoy_als.factory,
    batch.factory,
    memory_limiter.factory,
    probabilistic_sampler.factory,
    tail_sampling.factory,
    otlp.factory,
    otlphttp.factory,
    debug.factory,
    prometheus.factory,
    health_check.factory,
]


def register(factory: AnyFactory) -> None:
    """Add a factory at run time (tests, plugins); a second one of a (kind, type) is a bug."""
    _config.ComponentTypes([*FACTORIES, factory])  # raises ValueError before anything changes
    FACTORIES.append(factory)


def unregister(factory: AnyFactory) -> None:
    FACTORIES.remove(factory)


def table() -> FactoryTable:
    """The factories by kind and type, as the service looks them up."""
    return FactoryTable.of(FACTORIES)


def types_of(kind: Kind) -> Mapping[str, type[Any]]:
    """type -> config class of one kind, as the loader sees them."""
    return _config.ComponentTypes(FACTORIES).config_classes(kind)


def supported_signals(kind: Kind, type_name: str) -> frozenset[Signal]:
    """The signals a registered type handles."""
    return _config.ComponentTypes(FACTORIES).signals(kind, type_name)


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> _config.Config:
    """`bridge.config.load_config` with the bridge's component types."""
    return _config.load_config(path, FACTORIES, environ)


def parse_config(
    data: str | Mapping[str, Any], source_name: str = "<config>", environ: Mapping[str, str] | None = None
) -> _config.Config:
    """`bridge.config.parse_config` with the bridge's component types."""
    return _config.parse_config(data, FACTORIES, source_name, environ)
