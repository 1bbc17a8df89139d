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

from bridge.config.model import ComponentID, Config, PipelineConfig
from bridge.exporters.base import Exporter, Signal
from bridge.exporters.config import DebugExporterConfig, OTLPExporterConfig, OTLPHTTPExporterConfig
from bridge.exporters.persistent import StorageLockedError
from bridge.exporters.prometheus.config import PrometheusExporterConfig
from bridge.exporters.queue import QueuedExporter, build_queued_exporter
from bridge.identity import IdentityResolver
from bridge.metrics.recorder import MetricsRecorder
from bridge.pipeline.consumer import Consumer, FanOut
from bridge.pipeline.convert import EntryConverter
from bridge.pipeline.export import ExportStage
from bridge.processors.batch import BatchProcessor, BatchProcessorConfig
from bridge.receivers.envoy_als.config import EnvoyALSReceiverConfig
from bridge.receivers.envoy_als.receiver import EnvoyALSReceiver

log = logging.getLogger("bridge")

SHUTDOWN_TIMEOUT = 15.0
_RECEIVER_GRACE = 2.0  # Envoy never ends a stream itself: open streams are cut after this


def _make_exporter(cid: ComponentID, config: Any) -> Exporter:
    name = str(cid)
    if isinstance(config, OTLPExporterConfig):
        from bridge.exporters.otlp.exporter import OTLPExporter

        return OTLPExporter(name, config)
    if isinstance(config, OTLPHTTPExporterConfig):
        from bridge.exporters.otlphttp.exporter import OTLPHTTPExporter

        return OTLPHTTPExporter(name, config)
    if isinstance(config, PrometheusExporterConfig):
        from bridge.exporters.prometheus.exporter import PrometheusExporter

        return PrometheusExporter(name, config)
    if isinstance(config, DebugExporterConfig):
        from bridge.exporters.debug.exporter import DebugExporter

        return DebugExporter(name, config)
    raise ValueError(f"exporters.{cid}: no runtime for exporter type {cid.type!r}")


def _signal_of(pipeline_id: ComponentID) -> Signal:
    return Signal(pipeline_id.type)


@dataclass
class Service:
    config: Config
    exporters: dict[ComponentID, QueuedExporter] = field(default_factory=dict)
    pipelines: list[Consumer] = field(default_factory=list)
    receivers: list[EnvoyALSReceiver] = field(default_factory=list)
    # each receiver in a metrics pipeline: its recorder and where the aggregate goes
    metric_sources: list[tuple[MetricsRecorder, FanOut]] = field(default_factory=list)
    _flush_task: asyncio.Task[None] | None = None

    def _exporter(self, cid: ComponentID) -> QueuedExporter:
        queued = self.exporters.get(cid)
        if queued is None:
            exporter_config = self.config.exporters[cid]
            queued = build_queued_exporter(_make_exporter(cid, exporter_config), exporter_config)
            self.exporters[cid] = queued
        return queued

    def _pipeline(self, pid: ComponentID, spec: PipelineConfig) -> Consumer:
        head: Consumer = ExportStage(_signal_of(pid), [self._exporter(e) for e in spec.exporters])
        for proc_id in reversed(spec.processors):
            proc_config = self.config.processors[proc_id]
            if isinstance(proc_config, BatchProcessorConfig):
                head = BatchProcessor(proc_config, head)
            else:
                raise ValueError(f"processors.{proc_id}: no runtime for processor type {proc_id.type!r}")
        self.pipelines.append(head)
        return head

    def build(self) -> None:
        consumers: dict[ComponentID, dict[Signal, list[Consumer]]] = {}
        for pid, spec in self.config.service.pipelines.items():
            head = self._pipeline(pid, spec)
            for rid in spec.receivers:
                consumers.setdefault(rid, {}).setdefault(_signal_of(pid), []).append(head)
        for rid, by_signal in consumers.items():
            rconf = self.config.receivers[rid]
            if not isinstance(rconf, EnvoyALSReceiverConfig):
                raise ValueError(f"receivers.{rid}: no runtime for receiver type {rid.type!r}")
            recorder = None
            if by_signal.get(Signal.METRICS):
                recorder = MetricsRecorder(rconf.metrics, rconf.reporters)
                self.metric_sources.append((recorder, FanOut(by_signal[Signal.METRICS])))
            converter = EntryConverter(
                IdentityResolver(rconf.static_peers),
                rconf.reporters,
                traces=FanOut(by_signal.get(Signal.TRACES, [])),
                logs=FanOut(by_signal.get(Signal.LOGS, [])),
                metrics=recorder,
            )
            downstream = [
                self._exporter(e)
                for spec in self.config.service.pipelines.values()
                if rid in spec.receivers
                for e in spec.exporters
            ]
            self.receivers.append(
                EnvoyALSReceiver(
                    str(rid),
                    rconf,
                    converter,
                    backpressure=downstream,
                    reuse_port=self.config.service.workers > 1,
                )
            )

    async def start(self) -> None:
        for receiver in self.receivers:
            await receiver.start()
        if self.metric_sources:
            self._flush_task = asyncio.create_task(self._flush_metrics_periodically())

    def flush_metrics(self) -> None:
        """Hand the current aggregate of every receiver to its metrics pipelines."""
        for recorder, pipelines in self.metric_sources:
            pipelines.consume(recorder.collect())

    async def _flush_metrics_periodically(self) -> None:
        interval = min(recorder.config.interval for recorder, _ in self.metric_sources)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.flush_metrics)
            except Exception:  # a bug must not stop the next flush
                log.exception("metrics flush failed")

    async def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        await asyncio.gather(*(r.stop(_RECEIVER_GRACE) for r in self.receivers))
        if self._flush_task is not None:
            self._flush_task.cancel()
            self.flush_metrics()  # the last aggregate, including what the drained streams added
        for pipeline in self.pipelines:
            pipeline.shutdown()  # flushes partial batches into the exporters' queues
        for exporter in self.exporters.values():
            remaining = max(deadline - time.monotonic(), 0.1)
            if not await asyncio.to_thread(exporter.shutdown, remaining):
                log.warning(
                    "exporter %s: shutdown timed out; what was left is counted as dropped", exporter.name
                )


def build_service(config: Config, worker: int = 0) -> Service:
    service = Service(for_worker(config, worker) if config.service.workers > 1 else config)
    service.build()
    return service


def for_worker(config: Config, worker: int) -> Config:
    """The config one of `service.workers` processes runs.

    The receivers share their ports (SO_REUSEPORT: the kernel spreads Envoy's connections over
    the workers); what cannot be shared is split: worker i serves the `prometheus` exporter on
    the configured port + i (scrape each), and keeps its persistent queue in `<directory>/worker-i`.
    """
    exporters: dict[ComponentID, Any] = {}
    for cid, econf in config.exporters.items():
        if isinstance(econf, PrometheusExporterConfig):
            host, _, port = econf.endpoint.rpartition(":")
            econf = replace(econf, endpoint=f"{host}:{int(port) + worker}" if int(port) else econf.endpoint)
        queue = getattr(econf, "sending_queue", None)
        if queue is not None and queue.directory:
            econf = replace(
                econf, sending_queue=replace(queue, directory=f"{queue.directory}/worker-{worker}")
            )
        exporters[cid] = econf
    return replace(config, exporters=exporters)


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
    from bridge.logging_setup import setup_logging

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
    for rid, rconf in config.receivers.items():
        if isinstance(rconf, EnvoyALSReceiverConfig) and rconf.endpoint.endswith(":0"):
            log.error("cannot start: receivers.%s.endpoint: workers > 1 need a fixed port, not 0", rid)
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
