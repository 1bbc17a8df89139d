"""`PeerMetadataError`: a metadata blob that could not be decoded.

One exception type for every identity source, so the resolver can catch exactly this and
nothing else: a decoder bug (an IndexError, say) must surface in tests, not be swallowed as
"bad metadata". `kind` is a short label ("flatnode", "struct", "base64", ...) that the
resolver uses as the `kind` label of `als_bridge_decode_errors_total`.
"""

from __future__ import annotations


class PeerMetadataError(ValueError):
    """Corrupt, truncated or hostile peer metadata. `str(err)` is `"<kind>: <detail>"`."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
