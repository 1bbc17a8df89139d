"""The one exception users see; the field-level error it is made from lives in `fields`."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.config.fields import FieldError, KeyPath, PathPart, did_you_mean, format_path

__all__ = ["ConfigError", "FieldError", "KeyPath", "PathPart", "did_you_mean", "format_path"]


class ConfigError(Exception):
    """A config that cannot be used; the message names the file, the key path and the problem.

    `source`, `path` and `problem` are kept apart so tests and tools need not parse the message.
    """

    def __init__(self, source: str, path: Sequence[PathPart], problem: str) -> None:
        self.source = source
        self.path: KeyPath = tuple(path)
        self.problem = problem
        where = format_path(self.path)
        super().__init__(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")
