"""The running bridge: components built from the config, started, and stopped in order.

Shutdown order (SIGTERM or SIGINT): stop accepting ALS streams and let open ones end, flush
every pipeline (partial batches go to the exporters' queues), then let each exporter drain its
queue; all of it inside SHUTDOWN_TIMEOUT, after which the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bridge import components
from bridge.config.model import ComponentID, Config, PipelineConfig
from bridge.exporters.base import Signal
from bridge.exporters.persistent import StorageLockedError
from bridge.exporters.queue import QueuedExporter, build_queued_exporter
from bridge.factory import Extension, FactoryTable, Host, Receiver, ReceiverWiring, Settings
from bridge.logging_setup import setup_logging
from bridge.pipeline.capacity import Admission, Limiter
from bridge.pipeline.consumer import Consumer, FanOut
from bridge.pipeline.export import ExportStage
from bridge.pipeline.sampling import Decide, chain

log = logging.getLogger("bridge")

SHUTDOWN_TIMEOUT = 15.0
_RECEIVER_GRACE = 2.0  # Envoy never ends a stream itself: open streams are cut after this


def _signal_of(pipeline_id: ComponentID) -> Signal:
    return Signal(pipeline_id.type)


@dataclass
class Service:
    """The components of one config, each built by the factory of its type (`bridge.components`)."""

    config: Config
    factories: FactoryTable = field(default_factory=components.table)
    exporters: dict[ComponentID, QueuedExporter] = field(default_factory=dict)
    pipelines: list[Consumer] = field(default_factory=list)
    receivers: list[Receiver] = field(default_factory=list)
    extensions: list[Extension] = field(default_factory=list)
    host: Host = field(default_factory=Host)
    # per pipeline id, its first consumer (what its receivers and connectors feed)
    heads: dict[ComponentID, Consumer] = field(default_factory=dict)
    _flush_task: asyncio.Task[None] | None = None

    def _exporter(self, cid: ComponentID) -> QueuedExporter:
        queued = self.exporters.get(cid)
        if queued is None:
            exporter_config = self.config.exporters[cid]
            exporter = self.factories.exporters[cid.type].create(Settings(cid, self.host), exporter_config)
            queued = build_queued_exporter(exporter, exporter_config)
            self.exporters[cid] = queued
        return queued

    def _pipeline(self, pid: ComponentID, spec: PipelineConfig) -> Consumer:
        """Processors in order, then the exporters (encoded once for all) and the connectors."""
        signal = _signal_of(pid)
        exporters = [self._exporter(e) for e in spec.exporters if e not in self.config.connectors]
        tails: list[Consumer] = [ExportStage(signal, exporters)] if exporters else []
        tails += [self._connector(c, signal) for c in spec.exporters if c in self.config.connectors]
        head: Consumer = tails[0] if len(tails) == 1 else FanOut(tails)
        for proc_id in reversed(spec.processors):
            factory = self.factories.processors[proc_id.type]
            settings = Settings(proc_id, self.host, signal, pid)
            head = factory.create(settings, self.config.processors[proc_id], head)
        samplers = self.host.samplers.get(pid)
        if samplers:
            samplers.reverse()  # registered last to first above
        self.pipelines.append(head)
        self.heads[pid] = head
        return head

    def _connector(self, cid: ComponentID, signal: Signal) -> Consumer:
        """A connector at the end of a `signal` pipeline, feeding the pipelines it is a receiver of
        (built already: `build` goes downstream-first)."""
        factory = self.factories.connectors[cid.type]
        targets = {to for source, to in factory.routes if source == signal}
        fed = FanOut(
            [
                self.heads[pid]
                for pid, spec in self.config.service.pipelines.items()
                if cid in spec.receivers and pid.type in targets
            ]
        )
        return factory.create(Settings(cid, self.host, signal), self.config.connectors[cid], fed)

    def _build_order(self) -> list[ComponentID]:
        """Pipeline ids, each after every pipeline its connectors feed (the loader refused cycles)."""
        pipelines = self.config.service.pipelines
        order: list[ComponentID] = []

        def visit(pid: ComponentID) -> None:
            if pid in order:
                return
            for out in pipelines[pid].exporters:
                if out in self.config.connectors:
                    for target, spec in pipelines.items():
                        if out in spec.receivers:
                            visit(target)
            order.append(pid)

        for pid in pipelines:
            visit(pid)
        return order

    def build(self) -> None:
        self.host.workers = self.config.service.workers
        for eid in self.config.service.extensions:
            extension = self.factories.extensions[eid.type]
            self.extensions.append(extension.create(Settings(eid, self.host), self.config.extensions[eid]))
        consumers: dict[ComponentID, dict[Signal, list[Consumer]]] = {}
        pipelines = self.config.service.pipelines
        for pid in self._build_order():
            head = self._pipeline(pid, pipelines[pid])
            for rid in pipelines[pid].receivers:
                if rid in self.config.receivers:
                    consumers.setdefault(rid, {}).setdefault(_signal_of(pid), []).append(head)
        for rid, by_signal in consumers.items():
            wiring = ReceiverWiring(
                {signal: FanOut(heads) for signal, heads in by_signal.items()},
                admission=self._admission(rid),
                samplers=self._samplers_of(rid),
            )
            factory = self.factories.receivers[rid.type]
            self.receivers.append(
                factory.create(Settings(rid, self.host), self.config.receivers[rid], wiring)
            )
        readiness = self.host.readiness
        for receiver in self.receivers:
            readiness.expect(f"receiver {receiver.name}", "not listening yet")
        for cid in self.exporters:
            readiness.expect(f"exporter {cid}", "not started yet")

    def _admission(self, rid: ComponentID) -> Admission:
        """What the pipelines fed by receiver `rid` can take: their exporters per signal, whether
        one is a metrics pipeline, and the limiters among their processors."""
        admission = Admission()
        limiters: list[Limiter] = []
        for pid, spec in self.config.service.pipelines.items():
            if rid not in spec.receivers:
                continue
            limiters += [self.host.limiters[p] for p in spec.processors if p in self.host.limiters]
            signal = _signal_of(pid)
            if signal is Signal.METRICS:
                admission.metrics = True
                continue
            stages = list(admission.exporters.get(signal.value, []))
            stages += [self._exporter(e) for e in spec.exporters if e not in self.config.connectors]
            admission.exporters[signal.value] = stages
        admission.limiters = list({id(limiter): limiter for limiter in limiters}.values())
        return admission

    def _samplers_of(self, rid: ComponentID) -> dict[Signal, Decide]:
        """Per signal, the one decision of the sampler processors in the pipelines `rid` feeds.

        Samplers decide where the receiver builds spans, once per entry, so the receiver's
        pipelines of one signal must list the same ones. A logs pipeline listing the traces
        pipelines' samplers gets the same function (its records follow the kept spans); one
        without samplers keeps every record."""
        out: dict[Signal, Decide] = {}
        joined: dict[tuple[ComponentID, ...], Decide] = {}
        for pipeline_signal in (Signal.TRACES, Signal.LOGS):
            chains = {
                tuple(cid for cid, _ in self.host.samplers.get(pid, [])): self.host.samplers.get(pid, [])
                for pid, spec in self.config.service.pipelines.items()
                if rid in spec.receivers and _signal_of(pid) == pipeline_signal
            }
            if len(chains) > 1:
                listed = " and ".join(repr([str(c) for c in ids]) for ids in chains)
                raise ValueError(
                    f"receivers.{rid}: its {pipeline_signal.value} pipelines list different samplers "
                    f"({listed}); samplers decide where the receiver builds spans, so they must be the same"
                )
            for ids, samplers in chains.items():
                decide = joined.get(ids) or chain([sampler for _, sampler in samplers])
                if decide is not None:
                    out[pipeline_signal] = joined[ids] = decide
        return out

    async def start(self) -> None:
        """Limiters, extensions (the health check answers "not ready" meanwhile), then the
        receivers; ready once every receiver listens. Exporters started when they were built."""
        for limiter in self.host.limiters.values():
            limiter.start()
        readiness = self.host.readiness
        for extension in self.extensions:
            await extension.start()
        for cid in self.exporters:
            readiness.up(f"exporter {cid}")
        for receiver in self.receivers:
            await receiver.start()
            readiness.up(f"receiver {receiver.name}")
        if self.host.periodic:
            self._flush_task = asyncio.create_task(self._flush_periodically())

    def flush_metrics(self) -> None:
        """Run the components' periodic work once (`Host.every`): today, hand each receiver's
        metrics aggregate to its metrics pipelines."""
        for _, work in self.host.periodic:
            work()

    async def _flush_periodically(self) -> None:
        interval = min(interval for interval, _ in self.host.periodic)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.flush_metrics)
            except Exception:  # a bug must not stop the next flush
                log.exception("metrics flush failed")

    async def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        """Not ready from the first moment (Kubernetes stops routing to this pod), then stop the
        receivers, flush the pipelines, drain the exporters; the extensions last."""
        deadline = time.monotonic() + timeout
        self.host.readiness.stopping("shutting down: flushing pipelines and exporters")
        await asyncio.gather(*(r.stop(_RECEIVER_GRACE) for r in self.receivers))
        if self._flush_task is not None:
            self._flush_task.cancel()
            self.flush_metrics()  # the last aggregate, including what the drained streams added
        for pipeline in reversed(self.pipelines):  # upstream first: connectors feed later ones
            pipeline.shutdown()  # flushes partial batches into the exporters' queues
        for limiter in self.host.limiters.values():
            limiter.shutdown()
        for exporter in self.exporters.values():
            remaining = max(deadline - time.monotonic(), 0.1)
            if not await asyncio.to_thread(exporter.shutdown, remaining):
                log.warning(
                    "exporter %s: shutdown timed out; what was left is counted as dropped", exporter.name
                )
        for extension in reversed(self.extensions):
            await extension.shutdown()


def build_service(config: Config, worker: int = 0) -> Service:
    service = Service(for_worker(config, worker) if config.service.workers > 1 else config)
    service.build()
    return service


def for_worker(config: Config, worker: int, factories: FactoryTable | None = None) -> Config:
    """The config one of `service.workers` processes runs.

    The receivers share their ports (SO_REUSEPORT: the kernel spreads Envoy's connections over
    the workers); what cannot be shared is split by each type's `for_worker`: worker i serves the
    `prometheus` exporter on the configured port + i (scrape each), and keeps its persistent queue
    in `<directory>/worker-i`. ValueError, naming the key, for a config that cannot be split.
    """
    table = factories or components.table()
    receivers: dict[ComponentID, Any] = {}
    for rid, rconf in config.receivers.items():
        try:
            receivers[rid] = table.receivers[rid.type].for_worker(rconf, worker)
        except ValueError as exc:
            raise ValueError(f"receivers.{rid}.{exc}") from None
    exporters = {
        cid: table.exporters[cid.type].for_worker(econf, worker) for cid, econf in config.exporters.items()
    }
    extensions = {
        eid: table.extensions[eid.type].for_worker(econf, worker) for eid, econf in config.extensions.items()
    }
    return replace(config, receivers=receivers, exporters=exporters, extensions=extensions)


async def serve(config: Config, ready: Callable[[Service], None] | None = None, worker: int = 0) -> None:
    """Run until SIGTERM/SIGINT, then shut down in order."""
    service = build_service(config, worker)
    await service.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(service)
    log.info("als-bridge running; SIGTERM or SIGINT stops it")
    await stop.wait()
    log.info("stopping: no new streams, flushing pipelines and exporters (at most %.0f s)", SHUTDOWN_TIMEOUT)
    await service.shutdown()
    log.info("stopped")


def configure_logging(level: str, encoding: str) -> None:
    setup_logging(level, encoding)


def run(config: Config) -> int:
    """Entry point of `als-bridge --config FILE`."""
    telemetry = config.service.telemetry
    configure_logging(telemetry.logs.level, telemetry.logs.encoding)
    for warning in config.warnings:
        log.warning("config: %s", warning)
    if config.service.workers > 1:
        return _run_workers(config)
    return _run_one(config, worker=0)


def _run_one(config: Config, worker: int) -> int:
    try:
        asyncio.run(serve(config, worker=worker))
    except (OSError, ValueError, StorageLockedError) as err:  # a port in use, a bad certificate: one line
        log.error("cannot start: %s", err)
        return 1
    return 0


def _worker_main(config: Config, worker: int) -> None:
    telemetry = config.service.telemetry
    configure_logging(telemetry.logs.level, telemetry.logs.encoding)
    logging.getLogger().handlers[0].setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s [worker {worker}] %(name)s: %(message)s")
    )
    raise SystemExit(_run_one(config, worker))


def _run_workers(config: Config) -> int:
    """Start `service.workers` processes (spawned: no gRPC state crosses a fork), pass SIGTERM
    and SIGINT on to them, and exit 0 only when every worker did."""
    try:
        for_worker(config, 0)
    except ValueError as err:
        log.error("cannot start: %s", err)
        return 1
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_worker_main, args=(config, i), name=f"als-bridge-worker-{i}")
        for i in range(config.service.workers)
    ]
    for process in workers:
        process.start()
    log.info("started %d worker processes: %s", len(workers), ", ".join(str(p.pid) for p in workers))

    def forward(signum: int, _frame: object) -> None:
        for process in workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    for process in workers:
        process.join()
    failed = [p.name for p in workers if p.exitcode != 0]
    if failed:
        log.error("workers ended with an error: %s", ", ".join(failed))
        return 1
    return 0
