"""Value types that the config loader knows how to parse, shared by every component config."""

from __future__ import annotations

from typing import Annotated

# A duration: YAML `5s`, `250ms`, `1m`, `1h`, or a bare number of seconds. Stored as float seconds.
Duration = Annotated[float, "duration"]
# A size in bytes: YAML `4MiB`, `512KiB`, `1GiB`, `16kB`, or a bare integer. Stored as int bytes.
ByteSize = Annotated[int, "bytesize"]
# A secret: parsed as str, but printed as "[REDACTED]" wherever the config is shown.
Secret = Annotated[str, "secret"]
