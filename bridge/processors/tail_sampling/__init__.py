"""The `tail_sampling` processor: keep the calls that matter (errors, slow calls, flagged
calls) and a share of the rest, decided per call when its entry arrives."""

from bridge.processors.tail_sampling.config import TailSamplingConfig
from bridge.processors.tail_sampling.factory import factory
from bridge.processors.tail_sampling.sampler import TailSampler

__all__ = ["TailSampler", "TailSamplingConfig", "factory"]
