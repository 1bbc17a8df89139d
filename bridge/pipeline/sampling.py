"""The seam between the sampler processors and the place where spans are built.

A Collector sampler sits in the traces pipeline and drops spans that reach it. In the bridge
the decision is taken earlier, where the converter builds an entry's spans, for two reasons:
the entry is a whole call (status, flags, durations of its side, both identities), so there is
nothing to wait for; and a span that is dropped is never queued, batched or encoded. The
processors therefore stay where the user put them in `service.pipelines.traces.processors`,
and each contributes an `EntrySampler`: a plain function from the entry to a `Decision`. The
service joins the samplers of a pipeline into one function (`chain`) and hands it to the
converter; the processors themselves do nothing to the items that pass.

Every sampler here decides "keep when R >= T" (see `bridge.spans.probability`): `Decision`
carries the T and, when it was not the trace id's, the R, so the kept spans can record them
in their `tracestate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from bridge.decode import EntryView
from bridge.identity import Ends
from bridge.spans import SpanSet
from bridge.spans.probability import trace_state


class Decision(NamedTuple):
    """One entry's sampling decision: keep or not, which policy decided (a label of
    `als_bridge_spans_sampled_total`), the threshold the kept spans record, and the randomness
    used when it was not the trace id's (None: the trace id's)."""

    keep: bool
    policy: str
    threshold: int
    randomness: int | None = None

    @property
    def trace_state(self) -> str:
        return trace_state(self.threshold, self.randomness)


Decide = Callable[[EntryView, Ends, SpanSet], Decision]


class EntrySampler(Protocol):
    """What a sampler processor gives the pipeline: its decision for one entry."""

    def decide(self, view: EntryView, ends: Ends, span_set: SpanSet) -> Decision: ...


def chain(samplers: Sequence[EntrySampler]) -> Decide | None:
    """One decision from a pipeline's samplers, in their order: the first that drops decides;
    a kept entry records the largest threshold (with one source of randomness, keeping at
    every threshold is keeping at the largest one). None when there is no sampler."""
    if not samplers:
        return None
    if len(samplers) == 1:
        return samplers[0].decide
    decides = [s.decide for s in samplers]

    def decide(view: EntryView, ends: Ends, span_set: SpanSet) -> Decision:
        threshold, policy, randomness = -1, "", None
        for one in decides:
            decision = one(view, ends, span_set)
            if not decision.keep:
                return decision
            if decision.threshold >= threshold:
                threshold, policy = decision.threshold, decision.policy
            if randomness is None:
                randomness = decision.randomness
        return Decision(True, policy, threshold, randomness)

    return decide
