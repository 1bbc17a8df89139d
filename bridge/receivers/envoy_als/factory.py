"""The `envoy_als` receiver's factory: access logs in, spans, metrics and log records out."""

from __future__ import annotations

from collections.abc import Callable

from bridge.exporters.base import Signal
from bridge.factory import ReceiverFactory, ReceiverWiring, Settings
from bridge.identity import IdentityResolver
from bridge.metrics.recorder import MetricsRecorder
from bridge.pipeline.consumer import Item
from bridge.pipeline.convert import EntryConverter
from bridge.receivers.envoy_als.config import EnvoyALSReceiverConfig
from bridge.receivers.envoy_als.receiver import EnvoyALSReceiver


def _create(settings: Settings, config: EnvoyALSReceiverConfig, wiring: ReceiverWiring) -> EnvoyALSReceiver:
    """The receiver and its converter; in a metrics pipeline also the recorder that aggregates every
    entry, whose aggregate the service hands to the metrics pipelines every `metrics.interval`."""
    recorder = None
    metrics = wiring.of(Signal.METRICS)
    if metrics:
        recorder = MetricsRecorder(config.metrics, config.reporters)
        settings.host.every(config.metrics.interval, _flush(recorder, metrics.consume))
    converter = EntryConverter(
        IdentityResolver(config.static_peers),
        config.reporters,
        traces=wiring.of(Signal.TRACES),
        logs=wiring.of(Signal.LOGS),
        metrics=recorder,
        sample_traces=wiring.samplers.get(Signal.TRACES),
        sample_logs=wiring.samplers.get(Signal.LOGS),
    )
    return EnvoyALSReceiver(
        str(settings.id),
        config,
        converter,
        admission=wiring.admission,
        reuse_port=settings.host.workers > 1,
    )


def _flush(recorder: MetricsRecorder, consume: Callable[[list[Item]], None]) -> Callable[[], None]:
    return lambda: consume(recorder.collect())


def _for_worker(config: EnvoyALSReceiverConfig, worker: int) -> EnvoyALSReceiverConfig:
    """Workers share the port (SO_REUSEPORT); a port picked at random could not be shared."""
    if config.endpoint.endswith(":0"):
        raise ValueError("endpoint: workers > 1 need a fixed port, not 0")
    return config


factory = ReceiverFactory(
    type="envoy_als", config_class=EnvoyALSReceiverConfig, create=_create, for_worker=_for_worker
)
