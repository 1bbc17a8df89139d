"""`config.example.yaml` is the reference documentation: it must load, and show every key."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, get_args, get_origin

from bridge import components
from bridge.components import load_config
from bridge.config import ComponentID, Kind
from bridge.config._convert import field_hints, optional_inner, yaml_key
from bridge.config._yaml import load_yaml

EXAMPLE = Path(__file__).parents[2] / "config.example.yaml"
SECTIONS: tuple[tuple[str, Kind], ...] = (
    ("receivers", "receiver"),
    ("processors", "processor"),
    ("exporters", "exporter"),
)


def test_example_loads_without_environment() -> None:
    config = load_config(EXAMPLE, environ={})
    # the samplers are shown, not used: the example's traces keep every span
    assert config.warnings == [
        f"processors.{name}: defined but used by no pipeline; it will not run"
        for name in ("probabilistic_sampler", "tail_sampling")
    ]
    traces = config.service.pipelines[ComponentID("traces")]
    assert traces.receivers == [ComponentID("envoy_als")]
    assert traces.processors == [ComponentID("batch")]
    assert traces.exporters == [ComponentID("otlp"), ComponentID("otlphttp"), ComponentID("debug")]
    assert ComponentID("logs") in config.service.pipelines


def test_example_headers_come_from_the_environment() -> None:
    config = load_config(EXAMPLE, environ={"OTLP_TENANT": "team-a", "OTLP_HTTP_TOKEN": "tok"})
    assert config.exporters[ComponentID("otlp")].headers == {"x-scope-orgid": "team-a"}
    assert config.exporters[ComponentID("otlphttp")].headers == {"authorization": "Bearer tok"}


def test_example_shows_the_defaults_of_scalar_settings() -> None:
    """Where the example writes a plain setting, it writes the default (peers and headers are examples)."""
    config = load_config(EXAMPLE, environ={})
    for section, _ in SECTIONS:
        for component_id, value in getattr(config, section).items():
            for f in dataclasses.fields(value):
                if f.default is not dataclasses.MISSING:
                    default = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    default = f.default_factory()
                else:
                    continue  # a required setting has no default
                if f.name in ("static_peers", "headers"):
                    continue
                assert getattr(value, f.name) == default, f"{section}.{component_id}.{f.name}"


def _documented(raw: object, hint: Any, seen: dict[type[Any], set[str]]) -> None:
    """Record, per dataclass, which of its keys appear anywhere in the raw example."""
    inner = optional_inner(hint)
    if inner is not None:
        hint = inner
    if get_origin(hint) is list and isinstance(raw, list):
        for item in raw:
            _documented(item, get_args(hint)[0], seen)
    elif dataclasses.is_dataclass(hint) and isinstance(hint, type) and isinstance(raw, dict):
        seen.setdefault(hint, set()).update(raw)
        hints = field_hints(hint)
        names = {yaml_key(f): f.name for f in dataclasses.fields(hint)}
        for key, value in raw.items():
            _documented(value, hints[names[key]], seen)


def _all_dataclasses(cls: type[Any], found: set[type[Any]]) -> None:
    found.add(cls)
    for hint in field_hints(cls).values():
        for candidate in (hint, *get_args(hint), *(a for h in get_args(hint) for a in get_args(h))):
            if dataclasses.is_dataclass(candidate) and isinstance(candidate, type) and candidate not in found:
                _all_dataclasses(candidate, found)


def test_example_shows_every_component_type_and_every_key() -> None:
    raw = load_yaml(EXAMPLE.read_text(), str(EXAMPLE))
    assert isinstance(raw, dict)
    seen: dict[type[Any], set[str]] = {}
    classes: set[type[Any]] = set()
    for section, kind in SECTIONS:
        table = components.types_of(kind)
        shown = {ComponentID.parse(key).type for key in raw[section]}
        assert shown == set(table), f"{section}: the example should show each type once"
        for key, value in raw[section].items():
            _documented(value, table[ComponentID.parse(key).type], seen)
        for cls in table.values():
            _all_dataclasses(cls, classes)
    for cls in classes:
        # settings refused with a reason (the Collector's that do not apply) are not shown
        shown = {yaml_key(f) for f in dataclasses.fields(cls) if not f.metadata.get("refused")}
        missing = shown - seen.get(cls, set())
        assert not missing, f"config.example.yaml does not show {cls.__name__}: {sorted(missing)}"
