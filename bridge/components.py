"""Which component types exist, per kind, with their config class and the signals they handle.

Data only: the config loader reads it to check a file, and the runtime pairs each type with a
factory of its own. To add a type, call `register(...)` (or `register_connector(...)`) at import
time of a module that the runtime imports before loading the config, or add a line below.
"""

from __future__ import annotations

from typing import Any, Literal

from bridge.config.model import SIGNALS, Signal
from bridge.exporters.config import DebugExporterConfig, OTLPExporterConfig, OTLPHTTPExporterConfig
from bridge.exporters.prometheus.config import PrometheusExporterConfig
from bridge.processors.batch.config import BatchProcessorConfig
from bridge.receivers.envoy_als.config import EnvoyALSReceiverConfig

Kind = Literal["receiver", "processor", "exporter", "connector"]
ALL_SIGNALS: frozenset[Signal] = frozenset(SIGNALS)

# type -> config dataclass. A component given as `name:` with no value gets the class's defaults.
RECEIVERS: dict[str, type[Any]] = {"envoy_als": EnvoyALSReceiverConfig}
PROCESSORS: dict[str, type[Any]] = {"batch": BatchProcessorConfig}
EXPORTERS: dict[str, type[Any]] = {
    "otlp": OTLPExporterConfig,
    "otlphttp": OTLPHTTPExporterConfig,
    "debug": DebugExporterConfig,
    "prometheus": PrometheusExporterConfig,
}
# A connector is the exporter of one pipeline and the receiver of another (the Collector's idiom),
# e.g. a span-to-metrics connector: exporter in `traces`, receiver in `metrics`.
CONNECTORS: dict[str, type[Any]] = {}

# Signals each receiver / processor / exporter type can sit in a pipeline of.
SIGNALS_BY_KIND: dict[Kind, dict[str, frozenset[Signal]]] = {
    "receiver": {"envoy_als": ALL_SIGNALS},
    "processor": {"batch": ALL_SIGNALS},
    "exporter": {
        "otlp": ALL_SIGNALS,
        "otlphttp": ALL_SIGNALS,
        "debug": ALL_SIGNALS,
        "prometheus": frozenset({"metrics"}),
    },
}
# connector type -> the (exporter-pipeline signal, receiver-pipeline signal) pairs it joins.
CONNECTOR_ROUTES: dict[str, frozenset[tuple[Signal, Signal]]] = {}

_CONFIG_CLASSES: dict[Kind, dict[str, type[Any]]] = {
    "receiver": RECEIVERS,
    "processor": PROCESSORS,
    "exporter": EXPORTERS,
    "connector": CONNECTORS,
}


def types_of(kind: Kind) -> dict[str, type[Any]]:
    """The live type -> config class table of one kind (the loader's view of the registry)."""
    return _CONFIG_CLASSES[kind]


def register(
    kind: Literal["receiver", "processor", "exporter"],
    type_name: str,
    config_class: type[Any],
    signals: frozenset[Signal] = ALL_SIGNALS,
) -> None:
    """Add a receiver, processor or exporter type; a second registration of a name is a bug."""
    table = _CONFIG_CLASSES[kind]
    if type_name in table:
        raise ValueError(f"{kind} type {type_name!r} is already registered")
    if not signals or not signals <= ALL_SIGNALS:
        raise ValueError(f"signals must be a non-empty subset of {sorted(ALL_SIGNALS)}: {sorted(signals)}")
    table[type_name] = config_class
    SIGNALS_BY_KIND[kind][type_name] = frozenset(signals)


def register_connector(
    type_name: str, config_class: type[Any], routes: frozenset[tuple[Signal, Signal]]
) -> None:
    """Add a connector type joining pipelines as `routes`: {(exporter-side signal, receiver-side signal)}."""
    if type_name in CONNECTORS:
        raise ValueError(f"connector type {type_name!r} is already registered")
    if not routes or any(a not in ALL_SIGNALS or b not in ALL_SIGNALS for a, b in routes):
        raise ValueError(f"routes must be non-empty (signal, signal) pairs, got {sorted(routes)}")
    CONNECTORS[type_name] = config_class
    CONNECTOR_ROUTES[type_name] = frozenset(routes)


def supported_signals(
    kind: Literal["receiver", "processor", "exporter"], type_name: str
) -> frozenset[Signal]:
    """Signals a registered type handles; every signal when a registration left it out."""
    return SIGNALS_BY_KIND[kind].get(type_name, ALL_SIGNALS)
