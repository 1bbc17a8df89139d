"""The one exception users see, and the internal one that carries a key path up to it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

PathPart = str | int
KeyPath = tuple[PathPart, ...]


def format_path(path: Sequence[PathPart]) -> str:
    """Render a key path the way users write it: `exporters.otlp/tempo.tls`, `...exporters[1]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


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


class FieldError(ValueError):
    """A problem at a key path relative to the value being checked.

    Raised by the converter and by component `validate()` methods, which do not know where their
    config sits in the file; each caller on the way up prefixes its own part of the path.
    """

    def __init__(self, path: Sequence[PathPart], problem: str) -> None:
        self.path: KeyPath = tuple(path)
        self.problem = problem
        where = format_path(self.path)
        super().__init__(f"{where}: {problem}" if where else problem)

    def within(self, prefix: Sequence[PathPart]) -> FieldError:
        """The same problem, seen from `prefix` up."""
        return FieldError((*prefix, *self.path), self.problem)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest choice, or `` when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
