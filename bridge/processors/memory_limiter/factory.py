"""The `memory_limiter` processor's factory: every signal; one limiter per id, however many
pipelines name it, which the service hands to the receivers of those pipelines (`Host.limiter`)."""

from __future__ import annotations

from bridge.factory import ProcessorFactory, Settings
from bridge.pipeline.consumer import Consumer
from bridge.processors.memory_limiter.config import MemoryLimiterConfig
from bridge.processors.memory_limiter.processor import MemoryLimiter


def _create(settings: Settings, config: MemoryLimiterConfig, next_consumer: Consumer) -> Consumer:
    limiter = settings.host.limiter(settings.id, lambda: MemoryLimiter(str(settings.id), config))
    return limiter.stage(next_consumer)


factory = ProcessorFactory(type="memory_limiter", config_class=MemoryLimiterConfig, create=_create)
