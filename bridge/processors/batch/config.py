"""Configuration of the `batch` processor (the Collector's names and defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.config.types import Duration


@dataclass
class BatchProcessorConfig:
    send_batch_size: int = 8192  # items that trigger a send
    timeout: Duration = 0.2  # send whatever is there after this long
    send_batch_max_size: int = 0  # split larger batches; 0 = no upper limit
