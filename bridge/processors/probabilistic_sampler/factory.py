"""The `probabilistic_sampler` processor's factory: traces and logs pipelines.

Its decision is taken where the receiver builds spans (`bridge.pipeline.sampling`): `create`
(`bridge.factory.sampler_create`, shared with the other sampler) registers it with the host for
the pipeline and passes the items on untouched.
"""

from __future__ import annotations

from bridge.config import Signal
from bridge.factory import ProcessorFactory, sampler_create
from bridge.processors.probabilistic_sampler.config import ProbabilisticSamplerConfig
from bridge.processors.probabilistic_sampler.sampler import ProbabilisticSampler

factory = ProcessorFactory(
    type="probabilistic_sampler",
    config_class=ProbabilisticSamplerConfig,
    signals=frozenset({Signal.TRACES, Signal.LOGS}),
    create=sampler_create(ProbabilisticSampler),
)
