"""The `batch` processor's factory: every signal."""

from __future__ import annotations

from bridge.factory import ProcessorFactory, Settings
from bridge.pipeline.consumer import Consumer
from bridge.processors.batch.config import BatchProcessorConfig
from bridge.processors.batch.processor import BatchProcessor


def _create(settings: Settings, config: BatchProcessorConfig, next_consumer: Consumer) -> BatchProcessor:
    return BatchProcessor(config, next_consumer)


factory = ProcessorFactory(type="batch", config_class=BatchProcessorConfig, create=_create)
