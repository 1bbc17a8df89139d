"""The `batch` processor."""

from bridge.processors.batch.config import BatchProcessorConfig
from bridge.processors.batch.factory import factory
from bridge.processors.batch.processor import BatchProcessor

__all__ = ["BatchProcessor", "BatchProcessorConfig", "factory"]
