"""OTLP attributes and resources -> Prometheus labels.

Follows Prometheus' OTLP translator, so a scrape of this exporter and an OTLP push into a
Prometheus-compatible store give the same label sets: `job` = `service.namespace/service.name`
(or `service.name`), `instance` = `service.instance.id`, and the rest of the resource on one
`target_info` series per resource instead of on every series (unless the user asks for that with
`resource_to_telemetry_conversion`). Values are written as the Collector's `AsString()` does.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from bridge.exporters.prometheus.naming import label_name

Labels = tuple[tuple[str, str], ...]  # sorted by name; the identity of a series within a family

SERVICE_NAME = "service.name"
SERVICE_NAMESPACE = "service.namespace"
SERVICE_INSTANCE_ID = "service.instance.id"
_IDENTIFYING = frozenset({SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID})


def attribute_labels(attributes: Sequence[Any]) -> dict[str, str]:
    """OTLP `KeyValue`s as labels. Keys that collide once sanitised (`a.b`, `a_b`) share one label,
    their values joined with `;` in key order, as the Collector does; empty values are left out,
    because Prometheus treats `x=""` as no label at all.

    Every data point of every scrape interval comes through here, two dozen attributes each for
    Istio's metrics: label names come from a cache, string values (nearly all) skip the general
    conversion, and collisions, which are rare, are handled by a second pass."""
    labels: dict[str, str] = {}
    for kv in attributes:
        value = kv.value
        text = value.string_value if value.WhichOneof("value") == "string_value" else value_text(value)
        name = _cached_label_name(kv.key)
        if name and text:
            if name in labels:
                return _colliding_attribute_labels(attributes)
            labels[name] = text
    return labels


def _colliding_attribute_labels(attributes: Sequence[Any]) -> dict[str, str]:
    by_label: dict[str, list[tuple[str, str]]] = {}
    for kv in attributes:
        name = _cached_label_name(kv.key)
        text = value_text(kv.value)
        if name and text:
            by_label.setdefault(name, []).append((kv.key, text))
    return {name: ";".join(text for _, text in sorted(pairs)) for name, pairs in by_label.items()}


_LABEL_NAMES: dict[str, str] = {}


def _cached_label_name(key: str) -> str:
    name = _LABEL_NAMES.get(key)
    if name is None:
        name = label_name(key)
        if len(_LABEL_NAMES) < 10_000:  # attribute keys are a small fixed set; a flood is not cached
            _LABEL_NAMES[key] = name
    return name


def resource_identity(attributes: Iterable[Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(`job`/`instance` labels, the labels of this resource's `target_info` series).

    The second is empty when the resource has nothing but identifying attributes, as in Prometheus.
    """
    attrs = list(attributes)
    plain = {kv.key: value_text(kv.value) for kv in attrs if kv.key in _IDENTIFYING}
    identity: dict[str, str] = {}
    service = plain.get(SERVICE_NAME, "")
    if service:
        namespace = plain.get(SERVICE_NAMESPACE, "")
        identity["job"] = f"{namespace}/{service}" if namespace else service
    if plain.get(SERVICE_INSTANCE_ID):
        identity["instance"] = plain[SERVICE_INSTANCE_ID]
    info = attribute_labels([kv for kv in attrs if kv.key not in _IDENTIFYING])
    return identity, ({**info, **identity} if info else {})


def value_text(value: Any) -> str:
    """An OTLP `AnyValue` as label text: strings as they are, numbers in plain notation, bools as
    `true`/`false` (so `otel.metric.overflow=true` gives `otel_metric_overflow="true"`), bytes as
    base64, arrays and maps as JSON."""
    return _text(_plain(value))


def _plain(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_plain(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, which)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def float_text(value: float) -> str:
    """A double in plain decimal notation, shortest round-trip digits: 1.5, 2, 0.0001, 1e21 in full."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
