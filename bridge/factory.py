"""The factory every component exports, the Collector's way (`NewFactory(type, defaults, WithTraces(...))`).

A factory ties together what the rest of the bridge needs to know of a component type:

* `type`: the name users write (`otlp`, `batch`);
* `config_class`: its config dataclass; `config_class()` is the default config, its `validate()`
  checks everything about it (the loader reads only this much, see `bridge.config.registry`);
* `signals`: the pipelines it may sit in (a connector has `routes` instead);
* `create`: how to build it, with a signature per kind (below).

`bridge.components.FACTORIES` lists them; the loader takes its type tables from that list and
`bridge.service` builds every component through it, so a type that validates is a type that starts.

Kinds and what their `create` is handed:

* receiver: `create(settings, config, wiring) -> Receiver`; `wiring` holds the first consumer of
  every pipeline it feeds, per signal, and its `admission` (`bridge.pipeline.capacity`): the
  exporters downstream per signal (a full one pauses it or spares it the work) and the limiters
  (a `memory_limiter`) among the processors of its pipelines.
* processor: `create(settings, config, next_consumer) -> Consumer`; `settings.signal` and
  `settings.pipeline` are the pipeline's. A processor that decides before spans are built (the
  samplers) registers its per-entry decision with `Host.add_sampler(pipeline, id, sampler)` and
  returns `next_consumer`; the service joins a pipeline's samplers (`bridge.pipeline.sampling`)
  and hands them to each receiver that feeds it (`ReceiverWiring.samplers`).
* exporter: `create(settings, config) -> Exporter`; the service puts the queue and retries in
  front of it (`sending_queue`, `retry_on_failure`), as the Collector's exporterhelper does.
* connector: `create(settings, config, next_consumer) -> Consumer`, fed by the pipelines it
  exports from, feeding those it receives into (`routes`: (from, to) signal pairs).
* extension: `create(settings, config) -> Extension`, started before and stopped after every
  pipeline component (e.g. a health check).

`for_worker(config, worker)` gives the config one of `service.workers` processes runs (a port
or a directory per worker); ValueError when the config cannot run in several processes.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from bridge.config import ALL_SIGNALS, ComponentID, Kind, Signal
from bridge.exporters.base import Exporter
from bridge.exporters.shared_config import queue_for_worker
from bridge.pipeline.capacity import Admission, Limiter
from bridge.pipeline.consumer import Consumer, FanOut
from bridge.pipeline.sampling import Decide, EntrySampler
from bridge.readiness import Readiness

C = TypeVar("C")
L = TypeVar("L", bound="RunningLimiter")


def same_for_every_worker(config: C, worker: int) -> C:
    """The default `for_worker`: nothing in the config is per process."""
    return config


@dataclass
class Host:
    """The running service as components see it (the Collector's `component.Host`).

    Components register here what the service must do for them, instead of the service knowing
    each component: `every(interval, fn)` runs `fn` periodically on a worker thread and once more
    at shutdown, after the receivers have stopped (the metrics aggregate is flushed so).
    `readiness` is what the service reports of its components (each receiver listening, each
    exporter started, shutting down); extensions such as `health_check` read it.
    """

    workers: int = 1
    periodic: list[tuple[float, Callable[[], None]]] = field(default_factory=list)
    # admission limiters by processor id (`memory_limiter`): one per id, however many pipelines
    # name it; the service hands them to the receivers of those pipelines, starts and stops them
    limiters: dict[ComponentID, RunningLimiter] = field(default_factory=dict)
    # per pipeline, its sampler processors in order (id, `bridge.pipeline.sampling.EntrySampler`)
    samplers: dict[ComponentID, list[tuple[ComponentID, EntrySampler]]] = field(default_factory=dict)
    readiness: Readiness = field(default_factory=Readiness)

    def every(self, interval: float, work: Callable[[], None]) -> None:
        self.periodic.append((interval, work))

    def add_sampler(self, pipeline: ComponentID, processor: ComponentID, sampler: EntrySampler) -> None:
        """A processor of `pipeline` decides per entry, where the receiver builds spans."""
        self.samplers.setdefault(pipeline, []).append((processor, sampler))

    def limiter(self, cid: ComponentID, make: Callable[[], L]) -> L:
        """The limiter of processor `cid`, made by `make` the first time it is asked for."""
        found = self.limiters.get(cid)
        if found is None:
            found = self.limiters[cid] = make()
        return found  # type: ignore[return-value]  # stored as made


class RunningLimiter(Limiter, Protocol):
    """A `Limiter` the service starts with the receivers and stops at shutdown."""

    def start(self) -> None: ...

    def shutdown(self) -> None: ...


@dataclass(frozen=True)
class Settings:
    """What every `create` is handed besides its config."""

    id: ComponentID
    host: Host
    signal: Signal | None = None  # the pipeline's, for processors and connectors
    pipeline: ComponentID | None = None  # the pipeline's id, for processors


class Receiver(Protocol):
    name: str
    port: int  # the port it listens on once started (0 for a receiver that listens on none)

    async def start(self) -> None: ...

    async def stop(self, grace: float) -> None:
        """Stop taking data; give what is in flight `grace` seconds."""


class Extension(Protocol):
    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...


@dataclass(frozen=True)
class ReceiverWiring:
    """What the service hands a receiver: where its data goes, and what may hold it back."""

    consumers: Mapping[Signal, FanOut]  # per signal, the pipelines it feeds (absent: none)
    admission: Admission = field(default_factory=Admission)  # what the pipelines after it can take
    # per signal, the joined decision of its pipelines' samplers (absent: keep everything); the
    # same function for traces and logs when both list the same samplers
    samplers: Mapping[Signal, Decide] = field(default_factory=dict)

    def of(self, signal: Signal) -> FanOut:
        return self.consumers.get(signal) or FanOut([])


@dataclass(frozen=True, kw_only=True)
class _Factory(Generic[C]):
    type: str
    config_class: builtins.type[C]
    signals: frozenset[Signal] = ALL_SIGNALS
    routes: frozenset[tuple[Signal, Signal]] = frozenset()
    for_worker: Callable[[C, int], C] = same_for_every_worker

    def default_config(self) -> C:
        return self.config_class()


@dataclass(frozen=True, kw_only=True)
class ReceiverFactory(_Factory[C]):
    create: Callable[[Settings, C, ReceiverWiring], Receiver]

    @property
    def kind(self) -> Literal["receiver"]:
        return "receiver"


@dataclass(frozen=True, kw_only=True)
class ProcessorFactory(_Factory[C]):
    create: Callable[[Settings, C, Consumer], Consumer]

    @property
    def kind(self) -> Literal["processor"]:
        return "processor"


def sampler_create(
    make: Callable[[str, C], EntrySampler],
) -> Callable[[Settings, C, Consumer], Consumer]:
    """The `create` of a sampling processor (`probabilistic_sampler`, `tail_sampling`): the sampler
    decides where the receiver builds spans, so `create` registers the one `make` builds with the
    host for the pipeline and passes the items on untouched."""

    def create(settings: Settings, config: C, next_consumer: Consumer) -> Consumer:
        assert settings.pipeline is not None  # the service builds processors inside a pipeline
        settings.host.add_sampler(settings.pipeline, settings.id, make(str(settings.id), config))
        return next_consumer

    return create


@dataclass(frozen=True, kw_only=True)
class ExporterFactory(_Factory[C]):
    create: Callable[[Settings, C], Exporter]
    for_worker: Callable[[C, int], C] = queue_for_worker

    @property
    def kind(self) -> Literal["exporter"]:
        return "exporter"


@dataclass(frozen=True, kw_only=True)
class ConnectorFactory(_Factory[C]):
    create: Callable[[Settings, C, Consumer], Consumer]

    @property
    def kind(self) -> Literal["connector"]:
        return "connector"


@dataclass(frozen=True, kw_only=True)
class ExtensionFactory(_Factory[C]):
    create: Callable[[Settings, C], Extension]

    @property
    def kind(self) -> Literal["extension"]:
        return "extension"


AnyFactory = (
    ReceiverFactory[Any]
    | ProcessorFactory[Any]
    | ExporterFactory[Any]
    | ConnectorFactory[Any]
    | ExtensionFactory[Any]
)


@dataclass(frozen=True)
class FactoryTable:
    """The factories of a list, by kind and type: what the service looks a component up in."""

    receivers: Mapping[str, ReceiverFactory[Any]]
    processors: Mapping[str, ProcessorFactory[Any]]
    exporters: Mapping[str, ExporterFactory[Any]]
    connectors: Mapping[str, ConnectorFactory[Any]]
    extensions: Mapping[str, ExtensionFactory[Any]]

    @classmethod
    def of(cls, factories: Iterable[AnyFactory]) -> FactoryTable:
        tables: dict[Kind, dict[str, Any]] = {
            "receiver": {},
            "processor": {},
            "exporter": {},
            "connector": {},
            "extension": {},
        }
        for factory in factories:
            table = tables[factory.kind]
            if factory.type in table:
                raise ValueError(f"{factory.kind} type {factory.type!r} is already registered")
            table[factory.type] = factory
        return cls(
            receivers=tables["receiver"],
            processors=tables["processor"],
            exporters=tables["exporter"],
            connectors=tables["connector"],
            extensions=tables["extension"],
        )
