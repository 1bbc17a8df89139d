"""OTel semantic-convention rules that depend on the side of the call: status and gRPC codes."""

from __future__ import annotations

from collections.abc import Mapping

GRPC_CODE_NAMES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
# grpc.md (server note): only these codes make a SERVER span an error; every non-OK code
# makes a CLIENT span an error.
_SERVER_ERROR_CODES = frozenset({2, 4, 12, 13, 14, 15})

# What a gRPC client library reports when the reply had no grpc-status (HTTP-level failure);
# the gRPC project's HTTP-to-gRPC mapping.
_HTTP_TO_GRPC = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}

# TCP response flags that mean the connection failed rather than ended normally.
TCP_FAILURE_FLAGS = frozenset({"UF", "UH", "UO", "URX", "NR", "NC", "UT", "DF", "UPE", "OM", "LH", "FI"})


def is_grpc(content_type: str) -> bool:
    return content_type.startswith("application/grpc")


def grpc_status(trailers: Mapping[str, str], headers: Mapping[str, str], http_status: int) -> int | None:
    """The call's gRPC status: trailers, else headers (a trailers-only reply), else derived
    from a non-200 HTTP status. None when the reply's status was not logged."""
    raw = trailers.get("grpc-status") or headers.get("grpc-status")
    if raw is not None:
        try:
            code = int(raw)
        except ValueError:
            return 2  # UNKNOWN: the peer sent something that is not a status
        return code if 0 <= code < len(GRPC_CODE_NAMES) else 2
    if http_status and http_status != 200:
        return _HTTP_TO_GRPC.get(http_status, 2)
    return None


def grpc_code_name(code: int) -> str:
    return GRPC_CODE_NAMES[code] if 0 <= code < len(GRPC_CODE_NAMES) else "UNKNOWN"


def grpc_is_error(code: int, client_side: bool) -> bool:
    return code != 0 if client_side else code in _SERVER_ERROR_CODES


def http_is_error(status: int, client_side: bool) -> bool:
    """5xx on both sides, 4xx on the client side only (http-spans.md, Status)."""
    return status >= 500 or (client_side and status >= 400)
