"""Checks across components: what the pipelines reference exists, fits the signal, and connects.

A single component's settings are checked when it is read (`_convert.py` calls its `validate()`); this module
sees the whole config at once, the way the Collector validates `service.pipelines` against the
component sections.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.config._errors import FieldError, KeyPath, did_you_mean
from bridge.config.model import SIGNALS, ComponentID, Config, PipelineConfig, Signal
from bridge.config.registry import ComponentTypes

_Role = Literal["receivers", "processors", "exporters"]
_ROLES: tuple[_Role, ...] = ("receivers", "processors", "exporters")
_KIND: dict[_Role, Literal["receiver", "processor", "exporter"]] = {
    "receivers": "receiver",
    "processors": "processor",
    "exporters": "exporter",
}


@dataclass
class _ConnectorUse:
    """Where one connector id appears: per side, the (signal, key path) of each reference."""

    as_exporter: list[tuple[Signal, KeyPath]] = field(default_factory=list)
    as_receiver: list[tuple[Signal, KeyPath]] = field(default_factory=list)


def validate_service(config: Config, types: ComponentTypes) -> list[str]:
    """Raise FieldError on the first broken reference; return warnings (unused components)."""
    pipelines = config.service.pipelines
    if not pipelines:
        raise FieldError(("service", "pipelines"), "no pipelines; define at least one, e.g. 'traces'")
    _check_connector_ids(config)
    connector_uses: dict[ComponentID, _ConnectorUse] = {}
    for pipeline_id, pipeline in pipelines.items():
        path: KeyPath = ("service", "pipelines", str(pipeline_id))
        signal = _signal_of(pipeline_id, path)
        for role in _ROLES:
            listed: list[ComponentID] = getattr(pipeline, role)
            if not listed and role != "processors":
                raise FieldError((*path, role), f"a pipeline needs at least one {_KIND[role]}")
            for index, ref in enumerate(listed):
                if ref in listed[:index]:
                    raise FieldError(
                        (*path, role, index), f"{_KIND[role]} '{ref}' is listed twice in this pipeline"
                    )
                _check_reference(config, types, signal, role, ref, (*path, role, index), connector_uses)
    _check_connector_routes(connector_uses, types)
    _check_no_cycles(config)
    _check_extensions(config)
    return _unused(config)


def _check_extensions(config: Config) -> None:
    """`service.extensions` names defined extensions, each once (the Collector's rule)."""
    listed = config.service.extensions
    for index, ref in enumerate(listed):
        path: KeyPath = ("service", "extensions", index)
        if ref in listed[:index]:
            raise FieldError(path, f"extension '{ref}' is listed twice")
        if ref not in config.extensions:
            defined = ", ".join(str(i) for i in config.extensions) or "none"
            raise FieldError(
                path,
                f"extension '{ref}' is not defined under 'extensions'"
                f"{did_you_mean(str(ref), [str(i) for i in config.extensions])} (defined: {defined})",
            )


def _signal_of(pipeline_id: ComponentID, path: KeyPath) -> Signal:
    for signal in SIGNALS:
        if pipeline_id.type == signal:
            return signal
    raise FieldError(
        path,
        f"unknown signal {pipeline_id.type!r}; a pipeline id is traces, metrics or logs, optionally "
        f"followed by '/name'{did_you_mean(pipeline_id.type, map(str, SIGNALS))}",
    )


def _references(pipeline: PipelineConfig) -> Iterator[tuple[_Role, ComponentID]]:
    for role in _ROLES:
        for ref in getattr(pipeline, role):
            yield role, ref


def _check_reference(
    config: Config,
    types: ComponentTypes,
    signal: Signal,
    role: _Role,
    ref: ComponentID,
    path: KeyPath,
    connector_uses: dict[ComponentID, _ConnectorUse],
) -> None:
    """One id in a pipeline list: defined (in its role's section or as a connector) and fits `signal`.

    Connector uses are only collected here; whether they pair up is known after all pipelines.
    """
    defined: Mapping[ComponentID, Any] = getattr(config, role)
    if ref in defined:
        kind = _KIND[role]
        supported = types.signals(kind, ref.type)
        if signal not in supported:
            raise FieldError(
                path,
                f"{kind} '{ref}' does not support {signal}; it handles {', '.join(sorted(supported))}",
            )
        return
    if role != "processors" and ref in config.connectors:
        use = connector_uses.setdefault(ref, _ConnectorUse())
        (use.as_receiver if role == "receivers" else use.as_exporter).append((signal, path))
        return
    raise FieldError(path, _undefined_message(config, role, ref))


def _undefined_message(config: Config, role: _Role, ref: ComponentID) -> str:
    """Say where the id is missing, and point at the likely slip: a typo or the wrong section."""
    section = role if role == "processors" else f"{role}' or 'connectors"
    message = f"{_KIND[role]} '{ref}' is not defined in '{section}'"
    for other in ("receivers", "processors", "exporters", "connectors"):
        if other != role and ref in getattr(config, other):
            return f"{message}; '{ref}' is defined under '{other}', which cannot be used here"
    candidates = [str(i) for i in getattr(config, role)]
    if role != "processors":
        candidates += [str(i) for i in config.connectors]
    suggestion = did_you_mean(str(ref), candidates)
    if not suggestion and candidates:
        suggestion = f"; defined: {', '.join(candidates)}"
    return message + suggestion


def _check_connector_ids(config: Config) -> None:
    """A connector id must not also name a receiver or exporter: a reference would be ambiguous."""
    for connector_id in config.connectors:
        for section in ("receivers", "exporters"):
            if connector_id in getattr(config, section):
                raise FieldError(
                    ("connectors", str(connector_id)),
                    f"the id is also defined under '{section}'; "
                    "give one of them a '/name' to tell them apart",
                )


def _check_connector_routes(uses: Mapping[ComponentID, _ConnectorUse], types: ComponentTypes) -> None:
    """Every use of a connector needs a matching use on the other side with a route it supports."""
    for connector_id, use in uses.items():
        routes = types.routes(connector_id.type)
        for signal, path in use.as_exporter:
            targets = {b for a, b in routes if a == signal}
            if not any(s in targets for s, _ in use.as_receiver):
                raise FieldError(
                    path,
                    f"connector '{connector_id}' is the receiver of no pipeline it can feed from {signal} "
                    f"(it joins {_describe_routes(routes)})",
                )
        for signal, path in use.as_receiver:
            sources = {a for a, b in routes if b == signal}
            if not any(s in sources for s, _ in use.as_exporter):
                raise FieldError(
                    path,
                    f"connector '{connector_id}' is the exporter of no pipeline it can bring into {signal} "
                    f"(it joins {_describe_routes(routes)})",
                )


def _describe_routes(routes: frozenset[tuple[Signal, Signal]]) -> str:
    return ", ".join(f"{a} -> {b}" for a, b in sorted(routes)) or "no signals"


def _check_no_cycles(config: Config) -> None:
    """Connectors must not lead data back into a pipeline it came from (it would loop forever)."""
    pipelines = config.service.pipelines
    feeds: dict[ComponentID, list[ComponentID]] = {}
    for source_id, source in pipelines.items():
        outs = [ref for ref in source.exporters if ref in config.connectors]
        feeds[source_id] = [
            target_id
            for target_id, target in pipelines.items()
            if any(ref in target.receivers for ref in outs)
        ]
    state: dict[ComponentID, int] = {}  # 1: on the current path, 2: done

    def visit(node: ComponentID, trail: list[ComponentID]) -> None:
        state[node] = 1
        for nxt in feeds[node]:
            if state.get(nxt) == 1:
                loop = " -> ".join(str(p) for p in [*trail[trail.index(nxt) :], nxt])
                raise FieldError(("service", "pipelines"), f"connectors form a cycle: {loop}")
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for pipeline_id in pipelines:
        if pipeline_id not in state:
            visit(pipeline_id, [pipeline_id])


def _unused(config: Config) -> list[str]:
    """Components defined but in no pipeline: not an error (the Collector skips them too), but say so."""
    used: set[tuple[str, ComponentID]] = set()
    for pipeline in config.service.pipelines.values():
        for role, ref in _references(pipeline):
            used.add((role, ref))
            if ref in config.connectors:
                used.add(("connectors", ref))
    return [
        f"{section}.{component_id}: defined but used by no pipeline; it will not run"
        for section in ("receivers", "processors", "exporters", "connectors")
        for component_id in getattr(config, section)
        if (section, component_id) not in used
    ] + [
        f"extensions.{extension_id}: defined but not listed in service.extensions; it will not run"
        for extension_id in config.extensions
        if extension_id not in config.service.extensions
    ]
