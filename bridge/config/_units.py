"""Durations and byte sizes: parsing the forms users write, and printing them back the same way."""

from __future__ import annotations

import math
import re

# Go's time.ParseDuration units, which Collector users already write.
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")

# Decimal (kB, MB) and binary (KiB, MiB) sizes; compared case-insensitively except that they are
# all spelled with a capital B in messages. `k` and `K` both mean 1000.
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)")


def parse_duration(text: str) -> float:
    """Seconds in `5s`, `250ms`, `1m30s`, `2h`, `1.5s` or a bare number of seconds; never negative."""
    text = text.strip()
    if _NUMBER.fullmatch(text):
        return float(text)
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(
            f"not a duration: {text!r}; write e.g. '5s', '250ms', '1m30s' or a number of seconds"
        )
    return total


def parse_bytesize(text: str) -> int:
    """Bytes in `4MiB`, `512KiB`, `1GiB`, `16kB`, `1MB`, `100B` or a bare integer."""
    match = _SIZE.fullmatch(text.strip())
    unit = match.group(2).lower() if match else ""
    if match is None or (unit not in _SIZE_UNITS and unit != ""):
        advice = "write e.g. '4MiB', '512KiB', '16kB' or a number of bytes"
        raise ValueError(f"not a byte size: {text!r}; {advice}")
    amount = float(match.group(1)) * _SIZE_UNITS.get(unit, 1)
    if amount != math.floor(amount):
        raise ValueError(f"not a whole number of bytes: {text!r}")
    return int(amount)


def format_duration(seconds: float) -> str:
    """`2h`, `1m30s`, `5s`, `250ms` or `1.5s`: a form that reads back as exactly `seconds`."""
    if seconds == 0:
        return "0s"
    millis = seconds * 1000
    if seconds < 1 and millis == round(millis):
        return f"{round(millis)}ms"
    if seconds != round(seconds):
        return format(seconds, ".9f").rstrip("0").rstrip(".") + "s"  # ns, Go's resolution
    parts: list[str] = []
    remaining = round(seconds)
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def format_bytesize(size: int) -> str | int:
    """`4MiB` when `size` is a whole number of KiB/MiB/GiB/TiB, else the plain integer."""
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size and size % scale == 0:
            return f"{size // scale}{unit}"
    return size
