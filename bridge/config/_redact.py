"""The config as plain data for printing, with every secret replaced."""

from __future__ import annotations

import dataclasses
from typing import Any, get_args, get_origin

from bridge.config._convert import field_hints, marker, optional_inner, yaml_key
from bridge.config._units import format_bytesize, format_duration
from bridge.config.model import ComponentID, Config, ServiceConfig

REDACTED = "[REDACTED]"


def redacted(config: Config) -> dict[str, Any]:
    """Plain dicts/lists/scalars, defaults filled in, that `parse_config` reads back as the same config.

    Durations and sizes are printed the way users write them (`5s`, `4MiB`); a `Secret` prints as
    `[REDACTED]` even when empty, so the output never tells whether a credential is set. Strings are
    printed as loaded: one holding `${` (from a `$$` escape) would be substituted if read back.
    """
    out: dict[str, Any] = {}
    for section in ("extensions", "receivers", "processors", "exporters", "connectors"):
        found: dict[ComponentID, Any] = getattr(config, section)
        if found:
            out[section] = {str(cid): _plain(value, type(value)) for cid, value in found.items()}
    out["service"] = _plain(config.service, ServiceConfig)
    return out


def _plain(value: Any, hint: Any) -> Any:
    kind = marker(hint)
    if kind == "secret":
        return REDACTED
    if kind == "duration":
        return format_duration(value)
    if kind == "bytesize":
        return format_bytesize(value)
    inner = optional_inner(hint)
    if inner is not None:
        return None if value is None else _plain(value, inner)
    if isinstance(value, ComponentID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        hints = field_hints(type(value))
        return {
            yaml_key(f): _plain(getattr(value, f.name), hints[f.name])
            for f in dataclasses.fields(value)
            if f.init and not (f.metadata.get("refused") and getattr(value, f.name) is None)
        }  # a key accepted only to be refused with its reason is not shown
    origin = get_origin(hint)
    if isinstance(value, list):
        item_hint = get_args(hint)[0] if origin is list else Any
        return [_plain(item, item_hint) for item in value]
    if isinstance(value, dict):
        value_hint = get_args(hint)[1] if origin is dict else Any
        return {str(k): _plain(v, value_hint) for k, v in value.items()}
    return value
