"""The `probabilistic_sampler` processor's factory: traces and logs pipelines.

Its decision is taken where the receiver builds spans (`bridge.pipeline.sampling`): `create`
registers it with the host for the pipeline and passes the items on untouched.
"""

from __future__ import annotations

from bridge.config import Signal
from bridge.factory import ProcessorFactory, Settings
from bridge.pipeline.consumer import Consumer
from bridge.processors.probabilistic_sampler.config import ProbabilisticSamplerConfig
from bridge.processors.probabilistic_sampler.sampler import ProbabilisticSampler


def _create(settings: Settings, config: ProbabilisticSamplerConfig, next_consumer: Consumer) -> Consumer:
    assert settings.pipeline is not None  # the service builds processors inside a pipeline
    settings.host.add_sampler(settings.pipeline, settings.id, ProbabilisticSampler(str(settings.id), config))
    return next_consumer


factory = ProcessorFactory(
    type="probabilistic_sampler",
    config_class=ProbabilisticSamplerConfig,
    signals=frozenset({Signal.TRACES, Signal.LOGS}),
    create=_create,
)
