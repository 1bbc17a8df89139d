"""Configuration of the `probabilistic_sampler` processor: the Collector's keys and modes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["proportional", "equalizing", "hash_seed"]


@dataclass
class ProbabilisticSamplerConfig:
    """`sampling_percentage` is required, as in the Collector (>= 100 keeps all, 0 none).

    `mode`: unset means `hash_seed` when a `hash_seed` is given, else `proportional` (the
    Collector's rule). `proportional` takes the randomness from the trace id (OTel consistent
    probability sampling); `equalizing` is the same here, since a span built from an access log
    arrives with no threshold of an earlier sampler to equalize; `hash_seed` hashes the trace id
    with the seed, exactly as the Collector does, so the two agree on every trace.
    `sampling_precision`: hex digits of the threshold written to `tracestate` (1..14)."""

    sampling_percentage: float
    hash_seed: int = 0
    mode: Mode | None = None
    sampling_precision: int = 4

    def validate(self) -> None:
        if not self.sampling_percentage >= 0:
            raise ValueError(f"sampling_percentage must be 0 or more, got {self.sampling_percentage}")
        if not 0 <= self.hash_seed < 2**32:
            raise ValueError(f"hash_seed must be a 32-bit unsigned integer, got {self.hash_seed}")
        if not 1 <= self.sampling_precision <= 14:
            raise ValueError(f"sampling_precision must be 1 to 14 hex digits, got {self.sampling_precision}")
        if self.hash_seed and self.mode in ("proportional", "equalizing"):
            raise ValueError(
                f"hash_seed is used only by mode 'hash_seed'; mode {self.mode!r} takes the trace id's "
                "randomness: remove hash_seed or set mode: hash_seed"
            )

    @property
    def effective_mode(self) -> Mode:
        return self.mode or ("hash_seed" if self.hash_seed else "proportional")
