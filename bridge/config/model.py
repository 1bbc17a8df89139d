"""The typed shape of a whole config file: what the loader returns and the runtime reads once."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.config.fields import FieldError


class Signal(enum.StrEnum):
    """The three OTLP signals, the one signal type of the bridge. A `str`: the value is the name
    used in pipeline ids, URLs (`/v1/traces`) and metric labels, and compares equal to it."""

    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"


SIGNALS: tuple[Signal, ...] = tuple(Signal)

# The Collector's rules: a type is an identifier; a name is anything without spaces after the `/`.
_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_NAME = re.compile(r"[^\s/][^\s]*")


@dataclass(frozen=True, order=True)
class ComponentID:
    """`type[/name]`: `otlp`, `otlp/tempo`. Also names pipelines, whose type is the signal."""

    type: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.type}/{self.name}" if self.name else self.type

    @classmethod
    def parse(cls, text: str) -> ComponentID:
        """Split `type/name`; raise ValueError saying what a valid id looks like."""
        type_, slash, name = text.partition("/")
        if not _TYPE.fullmatch(type_):
            raise ValueError(
                f"invalid id {text!r}: the type must start with a letter and contain only letters, "
                "digits and '_' (ids look like 'otlp' or 'otlp/tempo')"
            )
        if slash and not _NAME.fullmatch(name):
            raise ValueError(f"invalid id {text!r}: the name after '/' must be non-empty, without spaces")
        return cls(type_, name)


@dataclass
class PipelineConfig:
    """One pipeline: data flows from every receiver through the processors (in order) to every exporter."""

    receivers: list[ComponentID] = field(default_factory=list)
    processors: list[ComponentID] = field(default_factory=list)
    exporters: list[ComponentID] = field(default_factory=list)


@dataclass
class TelemetryLogsConfig:
    """The bridge's own log output (not the access logs it forwards)."""

    level: Literal["debug", "info", "warn", "error"] = "info"
    encoding: Literal["console", "json"] = "console"


@dataclass
class TelemetryConfig:
    logs: TelemetryLogsConfig = field(default_factory=TelemetryLogsConfig)


@dataclass
class ServiceConfig:
    """`service:` - which components run, wired how. Only components named here are started."""

    pipelines: dict[ComponentID, PipelineConfig]
    # The extensions to run (ids defined under `extensions:`), started before every pipeline
    # component and stopped after them, in this order.
    extensions: list[ComponentID] = field(default_factory=list)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    # Processes that each run the whole bridge, sharing the receivers' ports (SO_REUSEPORT):
    # Python runs one core per process. Each has its own service.instance.id.
    workers: int = 1

    def validate(self) -> None:
        if self.workers < 1:
            raise FieldError(("workers",), "must be at least 1")
        if self.workers > 64:
            raise FieldError(("workers",), "more than 64 worker processes is surely a typo")


@dataclass
class Config:
    """A loaded, validated config.

    Component values are instances of the config class of the factory of the id's type (the
    list is `bridge.components`): `exporters[ComponentID("otlp", "tempo")]` is an
    `OTLPExporterConfig`. Typed `Any`: the service looks the factory up by `id.type`.
    `warnings` holds things worth telling the user that do not stop the bridge.
    """

    receivers: dict[ComponentID, Any]
    exporters: dict[ComponentID, Any]
    service: ServiceConfig
    processors: dict[ComponentID, Any] = field(default_factory=dict)
    connectors: dict[ComponentID, Any] = field(default_factory=dict)
    extensions: dict[ComponentID, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list, compare=False)

    def pipeline_signal(self, pipeline_id: ComponentID) -> Signal:
        """The signal a pipeline carries (the type part of its id, checked by the loader)."""
        if pipeline_id.type not in SIGNALS:
            raise ValueError(f"{pipeline_id} is not a pipeline id")
        return Signal(pipeline_id.type)
