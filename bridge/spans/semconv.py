"""OTel semantic-convention rules that depend on the side of the call: status and gRPC codes,
and whether a logged HTTP request was a gRPC call at all.

Is it gRPC? Istio logs no request or response headers unless the user names them (MeshConfig
ALS and a Telemetry provider without headers log none), so the answer comes from the best
evidence the entry carries, in this order:

| evidence logged                                      | decision                          |
|------------------------------------------------------|-----------------------------------|
| request `content-type`                               | gRPC iff `application/grpc*`      |
| response `content-type` `application/grpc*`          | gRPC                              |
| `grpc-status` in the response trailers or headers    | gRPC (trailers-only replies carry |
|                                                      | it in the headers)                |
| none of these: HTTP/2, `POST`, path `/pkg.Svc/Meth`  | gRPC                              |
| anything else (HTTP/1.x, `GET`, another path shape)  | not gRPC                          |

The path rule needs a package-qualified service (`/demo.Greeter/Lookup`): a REST call such as
`POST /api/orders` over HTTP/2 must not pass for gRPC. A service without a package is
recognised only from the headers above.

The gRPC status is the logged `grpc-status` (trailers, else headers). When none was logged it
is None: the bridge invents no code from the HTTP status, the span says so
(`als_bridge.grpc_status_logged=false`), and the HTTP status rules apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bridge.cache import BoundedCache
from bridge.decode import EntryView

GrpcFacts = tuple[bool, int | None, str]  # is it gRPC, its logged status code, its method
NOT_GRPC: GrpcFacts = (False, None, "")

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

# TCP response flags that mean the connection failed rather than ended normally.
TCP_FAILURE_FLAGS = frozenset({"UF", "UH", "UO", "URX", "NR", "NC", "UT", "DF", "UPE", "OM", "LH", "FI"})


def grpc_status(trailers: Mapping[str, str], headers: Mapping[str, str]) -> int | None:
    """The call's logged gRPC status: trailers, else headers (a trailers-only reply).
    None when no `grpc-status` was logged: no code is derived from the HTTP status."""
    raw = trailers.get("grpc-status") or headers.get("grpc-status")
    if raw is None:
        return None
    try:
        code = int(raw)
    except ValueError:
        return 2  # UNKNOWN: the peer sent something that is not a status
    return code if 0 <= code < len(GRPC_CODE_NAMES) else 2


# `/pkg.Service/Method`: identifiers only, at least one package label before the service.
_GRPC_PATH = re.compile(r"/((?:[A-Za-z_][A-Za-z0-9_]*\.)+[A-Za-z_][A-Za-z0-9_]*/[A-Za-z_][A-Za-z0-9_]*)")
# path -> "pkg.Service/Method", or "" when not of that shape
_PATH_CACHE: BoundedCache[str, str] = BoundedCache(10_000)
_path_cached = _PATH_CACHE.get


def grpc_path_method(path: str) -> str:
    """`pkg.Service/Method` when `path` has gRPC's shape, else "". Cached: the few method
    paths of a mesh repeat, and a bounded cache keeps REST paths from piling up."""
    found = _path_cached(path)
    if found is None:
        match = _GRPC_PATH.fullmatch(path)
        found = _PATH_CACHE.put(path, match.group(1) if match else "")
    return found


def grpc_facts(view: EntryView) -> GrpcFacts:
    """Is the entry a gRPC call, its logged status (None: not logged) and its method; the
    decision table is in the module docstring. A handful of dict probes per entry; the path
    shape is looked at only for HTTP/2 POSTs that logged no header saying either way."""
    if view.is_tcp:
        return NOT_GRPC
    headers, trailers, request = view.response_headers, view.response_trailers, view.request_headers
    content_type = request.get("content-type") if request else None
    if content_type is not None:
        if not content_type.startswith("application/grpc"):
            return NOT_GRPC
        method = grpc_path_method(view.path) or view.path.partition("?")[0].lstrip("/")
        return True, grpc_status(trailers, headers), method
    if headers or trailers:  # Istio's default config logs none: skip the probes then
        code = grpc_status(trailers, headers)
        if code is not None or headers.get("content-type", "").startswith("application/grpc"):
            method = grpc_path_method(view.path) or view.path.partition("?")[0].lstrip("/")
            return True, code, method
    if view.protocol_version != "2" or view.method != "POST":
        return NOT_GRPC
    method = grpc_path_method(view.path)
    return (True, None, method) if method else NOT_GRPC


def grpc_code_name(code: int) -> str:
    return GRPC_CODE_NAMES[code] if 0 <= code < len(GRPC_CODE_NAMES) else "UNKNOWN"


def grpc_is_error(code: int, client_side: bool) -> bool:
    return code != 0 if client_side else code in _SERVER_ERROR_CODES


def http_is_error(status: int, client_side: bool) -> bool:
    """5xx on both sides, 4xx on the client side only (http-spans.md, Status)."""
    return status >= 500 or (client_side and status >= 400)
