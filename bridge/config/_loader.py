"""Reading a config file into a validated `Config`: the entry points of `bridge.config`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bridge.config._convert import Converter, describe
from bridge.config._errors import ConfigError, FieldError, did_you_mean
from bridge.config._validate import validate_service
from bridge.config._yaml import load_yaml
from bridge.config.model import ComponentID, Config, ServiceConfig
from bridge.config.registry import ComponentType, ComponentTypes, Kind

_SECTIONS: dict[str, Kind] = {
    "receivers": "receiver",
    "processors": "processor",
    "exporters": "exporter",
    "connectors": "connector",
    "extensions": "extension",
}
_TOP_LEVEL = (*_SECTIONS, "service")


def load_config(
    path: str | os.PathLike[str],
    factories: Iterable[ComponentType],
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, substitute, convert and validate the file at `path`; errors name it as given.

    `factories` are the component types the file may use (`bridge.components.FACTORIES`;
    `bridge.components.load_config` passes them).
    """
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, (), f"cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, (), f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    return parse_config(text, factories, source, environ)


def parse_config(
    data: str | Mapping[str, Any],
    factories: Iterable[ComponentType],
    source_name: str = "<config>",
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Like `load_config` for YAML text or already-parsed data; `environ` defaults to os.environ.

    `source_name` only labels error messages. `${env:...}` is substituted in the strings of a
    mapping too, so tests and tools can build configs as dicts.
    """
    types = ComponentTypes(factories)
    tree = load_yaml(data, source_name) if isinstance(data, str) else data
    converter = Converter(os.environ if environ is None else environ)
    try:
        config = _build(tree, converter, types)
        config.warnings.extend(validate_service(config, types))
    except FieldError as exc:
        raise ConfigError(source_name, exc.path, exc.problem) from None
    return config


def _build(tree: object, converter: Converter, types: ComponentTypes) -> Config:
    """The top level: five component sections and `service`, each read by its own rules."""
    if tree is None:
        raise FieldError((), "the config is empty; it needs at least 'receivers', 'exporters' and 'service'")
    if not isinstance(tree, Mapping):
        keys = ", ".join(_TOP_LEVEL)
        raise FieldError((), f"the top level must be a mapping with keys {keys}; got {describe(tree)}")
    for key in tree:
        if key not in _TOP_LEVEL:
            text = str(key)
            suggestion = did_you_mean(text, _TOP_LEVEL) or f"; valid keys: {', '.join(_TOP_LEVEL)}"
            raise FieldError((text,), f"unknown key{suggestion}")
    sections = {
        name: _components(types, kind, tree.get(name), name, converter) for name, kind in _SECTIONS.items()
    }
    if "service" not in tree:
        raise FieldError(("service",), "required key is missing; it lists the pipelines to run")
    service: ServiceConfig = converter.dataclass(ServiceConfig, tree["service"], ("service",))
    return Config(
        receivers=sections["receivers"],
        processors=sections["processors"],
        exporters=sections["exporters"],
        connectors=sections["connectors"],
        extensions=sections["extensions"],
        service=service,
    )


def _components(
    types: ComponentTypes, kind: Kind, section: object, name: str, converter: Converter
) -> dict[ComponentID, Any]:
    """`exporters:` etc.: each `type[/name]` key read into the config class of its type's factory."""
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise FieldError((name,), f"expected a mapping of component ids to settings, got {describe(section)}")
    known = types.config_classes(kind)
    result: dict[ComponentID, Any] = {}
    for key, raw in section.items():
        path = (name, str(key))
        if not isinstance(key, str):
            raise FieldError(path, f"a component id must be a string, got {describe(key)}")
        try:
            component_id = ComponentID.parse(key)
        except ValueError as exc:
            raise FieldError(path, str(exc)) from None
        config_class = known.get(component_id.type)
        if config_class is None:
            choices = ", ".join(sorted(known)) or "none yet"
            raise FieldError(
                path,
                f"unknown {kind} type {component_id.type!r}{did_you_mean(component_id.type, known)} "
                f"(known {kind} types: {choices})",
            )
        result[component_id] = converter.dataclass(config_class, raw, path)
    return result
