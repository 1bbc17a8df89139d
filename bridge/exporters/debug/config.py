"""`debug` exporter configuration: the Collector's `debug` exporter keys and defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class DebugExporterConfig:
    """`debug`: one line per item on stderr; `detailed` prints every attribute."""

    verbosity: Literal["basic", "normal", "detailed"] = "normal"
