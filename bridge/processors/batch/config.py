"""Configuration of the `batch` processor (the Collector's names and defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.config.fields import FieldError
from bridge.config.types import Duration


@dataclass
class BatchProcessorConfig:
    send_batch_size: int = 8192  # items that trigger a send
    timeout: Duration = 0.2  # send whatever is there after this long
    send_batch_max_size: int = 0  # split larger batches; 0 = no upper limit

    def validate(self) -> None:
        for key in ("send_batch_size", "send_batch_max_size"):
            if getattr(self, key) < 0:
                raise FieldError((key,), "must not be negative")
        if self.send_batch_max_size and self.send_batch_max_size < self.send_batch_size:
            raise FieldError(
                ("send_batch_max_size",),
                f"must be 0 (no limit) or at least send_batch_size ({self.send_batch_size})",
            )
