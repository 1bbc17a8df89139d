"""The `probabilistic_sampler` processor: a share of the calls' spans, chosen by trace id."""

from bridge.processors.probabilistic_sampler.config import ProbabilisticSamplerConfig
from bridge.processors.probabilistic_sampler.factory import factory
from bridge.processors.probabilistic_sampler.sampler import ProbabilisticSampler

__all__ = ["ProbabilisticSampler", "ProbabilisticSamplerConfig", "factory"]
