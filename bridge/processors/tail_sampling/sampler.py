"""The `tail_sampling` processor's decision for one entry: its policies, ORed."""

from __future__ import annotations

from bridge.decode import EntryView
from bridge.identity import Ends
from bridge.pipeline.sampling import Decision
from bridge.processors.tail_sampling.config import TailSamplingConfig
from bridge.processors.tail_sampling.policies import build_policy
from bridge.spans import SpanSet
from bridge.spans.probability import MAX_THRESHOLD, randomness_of


class TailSampler:
    """Keeps a call when any policy keeps it; the first such policy (in the configured order)
    names the decision in `als_bridge_spans_sampled_total{policy="<processor>/<policy>"}`."""

    def __init__(self, name: str, config: TailSamplingConfig) -> None:
        self.name = name
        self._policies = [(f"{name}/{p.name}", build_policy(p)) for p in config.policies]

    def decide(self, view: EntryView, ends: Ends, span_set: SpanSet) -> Decision:
        randomness = randomness_of(span_set.spans[0][1].trace_id)
        lowest = MAX_THRESHOLD
        decided_by = ""
        for label, policy in self._policies:
            threshold = policy(view, ends, span_set)
            if threshold is not None and threshold < lowest:
                lowest = threshold
                if not decided_by and randomness >= threshold:
                    decided_by = label
        if decided_by:
            return Decision(True, decided_by, lowest)
        return Decision(False, self.name, lowest)
