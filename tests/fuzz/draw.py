"""One source of choices for every fuzz driver: hypothesis, a seeded random loop, and atheris.

Why an interface rather than hypothesis strategies alone: `bench/fuzz.py` runs the same targets
hundreds of thousands of times, where hypothesis' per-example bookkeeping costs more than the
target, and atheris feeds raw bytes. Each input builder in `inputs.py` asks a `Draw` for its
choices, so the three drivers build the same shapes of input from their own randomness.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")

# Characters that matter to the parsers (node ids, cluster names, base64, authorities, ports).
_INTERESTING = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=|~.:-_[] \x00\té\u2603\U0001f600"
)


class Draw(Protocol):
    def integer(self, low: int, high: int) -> int:
        """An int in [low, high]."""

    def boolean(self) -> bool: ...

    def binary(self, max_size: int) -> bytes: ...

    def text(self, max_size: int, *, surrogates: bool = False) -> str:
        """Unicode text; lone surrogates only when asked (protobuf string fields refuse them)."""

    def pick(self, options: Sequence[T]) -> T: ...


class HypothesisDraw:
    """Choices from hypothesis, so failures shrink to a small input."""

    def __init__(self, data: st.DataObject) -> None:
        self._data = data

    def integer(self, low: int, high: int) -> int:
        return self._data.draw(st.integers(low, high))

    def boolean(self) -> bool:
        return self._data.draw(st.booleans())

    def binary(self, max_size: int) -> bytes:
        return self._data.draw(st.binary(max_size=max_size))

    def text(self, max_size: int, *, surrogates: bool = False) -> str:
        excluded = () if surrogates else ("Cs",)
        chars = st.characters(exclude_categories=excluded) | st.sampled_from(_INTERESTING)  # type: ignore[arg-type]
        return self._data.draw(st.text(chars, max_size=max_size))

    def pick(self, options: Sequence[T]) -> T:
        return self._data.draw(st.sampled_from(options))


class RandomDraw:
    """Choices from a seeded `random.Random`: cheap enough for the long runs of `bench/fuzz.py`."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def integer(self, low: int, high: int) -> int:
        # Edges are where parsers break: favour them a quarter of the time.
        if self._rng.random() < 0.25:
            return self._rng.choice((low, high, min(max(0, low), high)))
        return self._rng.randint(low, high)

    def boolean(self) -> bool:
        return self._rng.random() < 0.5

    def binary(self, max_size: int) -> bytes:
        return self._rng.randbytes(self._rng.randint(0, max_size))

    def text(self, max_size: int, *, surrogates: bool = False) -> str:
        size = self._rng.randint(0, max_size)
        if self._rng.random() < 0.7:
            return "".join(self._rng.choice(_INTERESTING) for _ in range(size))
        top = 0x10FFFF
        chars = (chr(self._rng.randint(0, top)) for _ in range(size))
        return "".join(c if surrogates or not 0xD800 <= ord(c) <= 0xDFFF else "?" for c in chars)

    def pick(self, options: Sequence[T]) -> T:
        return self._rng.choice(options)
