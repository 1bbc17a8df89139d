"""The `tail_sampling` processor's factory: traces and logs pipelines.

Its decision is taken where the receiver builds spans (`bridge.pipeline.sampling`): `create`
(`bridge.factory.sampler_create`, shared with the other sampler) registers it with the host for
the pipeline and passes the items on untouched.
"""

from __future__ import annotations

from bridge.config import Signal
from bridge.factory import ProcessorFactory, sampler_create
from bridge.processors.tail_sampling.config import TailSamplingConfig
from bridge.processors.tail_sampling.sampler import TailSampler

factory = ProcessorFactory(
    type="tail_sampling",
    config_class=TailSamplingConfig,
    signals=frozenset({Signal.TRACES, Signal.LOGS}),
    create=sampler_create(TailSampler),
)
