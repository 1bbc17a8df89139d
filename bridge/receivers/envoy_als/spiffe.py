"""SPIFFE ids and the `allowed_spiffe_ids` patterns they are checked against.

A SPIFFE id is `spiffe://TRUST_DOMAIN/PATH`; Istio gives each workload
`spiffe://cluster.local/ns/NAMESPACE/sa/SERVICE_ACCOUNT`. A pattern is such an id in which `*`
stands for any run of characters within one segment: it never matches a `/`, so
`spiffe://cluster.local/ns/*/sa/*` admits every workload of that trust domain but not
`spiffe://cluster.local/ns/a/sa/b/extra`. No other wildcard exists (no `?`, no `[...]`, no `**`):
an allow-list should read as exactly what it admits.

Ids are checked against the SPIFFE spec's character set before matching, because gRPC reports any
single `spiffe://` URI SAN as the peer's SPIFFE id, query strings and upper case included; an id
like `spiffe://cluster.local/ns/a/sa/b?x` must not slip past a `*`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_SCHEME = "spiffe://"
# SPIFFE-ID spec, sections 2.1 and 2.2: trust domain [a-z0-9._-], path segments [a-zA-Z0-9._-].
_TRUST_DOMAIN = r"[a-z0-9._-]+"
_SEGMENT = r"[a-zA-Z0-9._-]+"
_ID = re.compile(rf"spiffe://{_TRUST_DOMAIN}(?:/{_SEGMENT})*")
# A pattern: the same shape, with `*` allowed anywhere in a segment (it may also be the whole segment).
_PATTERN = re.compile(r"spiffe://[a-z0-9._*-]+(?:/[a-zA-Z0-9._*-]+)*")


def id_problem(spiffe_id: str) -> str | None:
    """Why `spiffe_id` is not a valid SPIFFE id, or None."""
    if _ID.fullmatch(spiffe_id) is None:
        return "not a SPIFFE id of the form spiffe://trust-domain/path (letters, digits, '.', '-', '_')"
    if any(segment in (".", "..") for segment in spiffe_id[len(_SCHEME) :].split("/")[1:]):
        return "a SPIFFE id has no '.' or '..' path segments"
    return None


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is not a usable allow-list entry, or None (for config validation)."""
    if not pattern.startswith(_SCHEME):
        return "must start with spiffe://, e.g. spiffe://cluster.local/ns/*/sa/*"
    if _PATTERN.fullmatch(pattern) is None:
        return (
            "must be spiffe://trust-domain/path with letters, digits, '.', '-', '_' and '*' "
            "(any characters within one segment) in each segment, and no empty segment"
        )
    if "**" in pattern:
        return "'**' is not supported: '*' already matches a whole segment and never crosses a '/'"
    return None


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile("[^/]*".join(re.escape(part) for part in pattern.split("*")))


class SpiffeAllowList:
    """Answers whether a client's SPIFFE id may open a stream; built once from the config."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self._exact = frozenset(p for p in self.patterns if "*" not in p)
        self._wildcards = tuple(_compile(p) for p in self.patterns if "*" in p)

    def allows(self, spiffe_id: str) -> bool:
        """True if `spiffe_id` is valid and matches an exact entry or a pattern."""
        if id_problem(spiffe_id) is not None:
            return False
        if spiffe_id in self._exact:
            return True
        return any(rx.fullmatch(spiffe_id) for rx in self._wildcards)
