"""The `memory_limiter` processor."""

from bridge.processors.memory_limiter.config import MemoryLimiterConfig
from bridge.processors.memory_limiter.factory import factory
from bridge.processors.memory_limiter.processor import MemoryLimiter

__all__ = ["MemoryLimiter", "MemoryLimiterConfig", "factory"]
