"""The `probabilistic_sampler`'s decision: a function of the trace id alone.

So the CLIENT and the SERVER span of a call, logged by two sidecars and perhaps received by
two bridge replicas or workers, get the same decision, and so does every call of one trace.
"""

from __future__ import annotations

from bridge.decode import EntryView
from bridge.identity import Ends
from bridge.pipeline.sampling import Decision
from bridge.processors.probabilistic_sampler.config import ProbabilisticSamplerConfig
from bridge.spans import SpanSet
from bridge.spans.probability import (
    hash_seed_randomness,
    hash_seed_threshold,
    randomness_of,
    threshold_for,
)


class ProbabilisticSampler:
    """Keeps an entry's spans when the trace id's randomness R reaches the threshold T."""

    def __init__(self, name: str, config: ProbabilisticSamplerConfig) -> None:
        self.name = name
        self._hashing = config.effective_mode == "hash_seed"
        self._seed = config.hash_seed
        if self._hashing:
            self.threshold = hash_seed_threshold(config.sampling_percentage)
        else:
            self.threshold = threshold_for(config.sampling_percentage, config.sampling_precision)
        self._keep = Decision(True, name, self.threshold)
        self._drop = Decision(False, name, self.threshold)

    def decide_trace(self, trace_id: bytes) -> Decision:
        if self._hashing:
            randomness = hash_seed_randomness(trace_id, self._seed)
            return Decision(randomness >= self.threshold, self.name, self.threshold, randomness)
        return self._keep if randomness_of(trace_id) >= self.threshold else self._drop

    def decide(self, view: EntryView, ends: Ends, span_set: SpanSet) -> Decision:
        """The entry's decision; it has at least one span (the converter asks only then)."""
        return self.decide_trace(span_set.spans[0][1].trace_id)
