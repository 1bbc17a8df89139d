"""How much memory the process uses, and how much its container may use.

Why from /proc and the cgroup files: the limit that kills a pod is the cgroup's, measured on the
memory the process really holds; Python has no cheap figure for its own heap in use.
"""

from __future__ import annotations

import os
from pathlib import Path

MiB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")
# cgroup v1 reports "no limit" as a huge number (the largest page-aligned int64)
_NO_LIMIT_V1 = 1 << 60


def rss_bytes() -> int:
    """The resident set size of this process (`/proc/self/statm`)."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE


def container_limit_bytes(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The memory limit of this process's cgroup (v2 `memory.max`, else v1
    `memory/memory.limit_in_bytes`); None when there is none."""
    for path in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        value = int(text)
        return None if value >= _NO_LIMIT_V1 else value
    return None


def total_memory_bytes() -> int:
    """The machine's memory (`MemTotal`), the base of a percentage when no cgroup limit is set."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise OSError("no MemTotal in /proc/meminfo")
