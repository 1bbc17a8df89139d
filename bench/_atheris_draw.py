"""`Draw` over atheris' FuzzedDataProvider: libFuzzer's mutated bytes make every choice, so its
coverage feedback steers the structure of the inputs, not only their bytes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class AtherisDraw:
    def __init__(self, provider: Any) -> None:
        self._p = provider

    def integer(self, low: int, high: int) -> int:
        return int(self._p.ConsumeIntInRange(low, high))

    def boolean(self) -> bool:
        return bool(self._p.ConsumeBool())

    def binary(self, max_size: int) -> bytes:
        return bytes(self._p.ConsumeBytes(self._p.ConsumeIntInRange(0, max_size)))

    def text(self, max_size: int, *, surrogates: bool = False) -> str:
        text = str(self._p.ConsumeUnicode(self._p.ConsumeIntInRange(0, max_size)))
        if surrogates:
            return text
        return text.encode("utf-8", "replace").decode("utf-8")

    def pick(self, options: Sequence[T]) -> T:
        index: int = self._p.ConsumeIntInRange(0, len(options) - 1)
        return options[index]
