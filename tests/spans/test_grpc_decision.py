"""The gRPC decision table of `bridge.spans.semconv.grpc_facts`: what a logged entry says."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.decode import EntryView
from bridge.spans.semconv import NOT_GRPC, grpc_facts, grpc_path_method

GRPC_PATH = "/demo.Greeter/Lookup"


def view(**overrides: Any) -> EntryView:
    """An HTTP/2 POST to a gRPC-shaped path with no header logged (Istio's default config)."""
    fields: dict[str, Any] = {"is_tcp": False, "method": "POST", "path": GRPC_PATH, "protocol_version": "2"}
    fields.update(overrides)
    return EntryView(**fields)


@pytest.mark.parametrize(
    ("case", "overrides", "expected"),
    [
        # 1. request content-type, when logged, decides
        (
            "content-type grpc",
            {"request_headers": {"content-type": "application/grpc"}},
            (True, None, "demo.Greeter/Lookup"),
        ),
        (
            "content-type grpc+proto",
            {
                "request_headers": {"content-type": "application/grpc+proto"},
                "response_trailers": {"grpc-status": "0"},
            },
            (True, 0, "demo.Greeter/Lookup"),
        ),
        (
            "content-type json on a gRPC-shaped path",
            {"request_headers": {"content-type": "application/json"}},
            NOT_GRPC,
        ),
        (
            "content-type json beats a grpc-status",
            {
                "request_headers": {"content-type": "application/json"},
                "response_headers": {"grpc-status": "5"},
            },
            NOT_GRPC,
        ),
        (
            "content-type grpc over HTTP/1.1 GET",
            {
                "request_headers": {"content-type": "application/grpc"},
                "method": "GET",
                "protocol_version": "1.1",
                "path": "/Greeter/Hi",
            },
            (True, None, "Greeter/Hi"),
        ),
        # 2. a logged grpc-status: trailers, or the headers of a trailers-only reply
        (
            "grpc-status in trailers",
            {"response_trailers": {"grpc-status": "0"}},
            (True, 0, "demo.Greeter/Lookup"),
        ),
        (
            "trailers-only NOT_FOUND",
            {"response_headers": {"grpc-status": "5"}},
            (True, 5, "demo.Greeter/Lookup"),
        ),
        (
            "trailers win over headers",
            {"response_headers": {"grpc-status": "5"}, "response_trailers": {"grpc-status": "14"}},
            (True, 14, "demo.Greeter/Lookup"),
        ),
        (
            "grpc-status on a package-less path",
            {"path": "/Greeter/Lookup", "response_trailers": {"grpc-status": "0"}},
            (True, 0, "Greeter/Lookup"),
        ),
        (
            "garbage grpc-status is UNKNOWN",
            {"response_trailers": {"grpc-status": "x"}},
            (True, 2, "demo.Greeter/Lookup"),
        ),
        (
            "response content-type grpc",
            {"response_headers": {"content-type": "application/grpc"}},
            (True, None, "demo.Greeter/Lookup"),
        ),
        # 3. nothing logged: HTTP/2 + POST + /package.Service/Method
        ("path shape", {}, (True, None, "demo.Greeter/Lookup")),
        (
            "nested package",
            {"path": "/grpc.health.v1.Health/Check"},
            (True, None, "grpc.health.v1.Health/Check"),
        ),
        ("HTTP/1.1", {"protocol_version": "1.1"}, NOT_GRPC),
        ("HTTP/1.0", {"protocol_version": "1.0"}, NOT_GRPC),
        ("GET", {"method": "GET"}, NOT_GRPC),
        ("no package", {"path": "/api/orders"}, NOT_GRPC),
        ("version-like segment", {"path": "/v1.2/orders"}, NOT_GRPC),
        ("three segments", {"path": "/demo.Greeter/Lookup/x"}, NOT_GRPC),
        ("query string", {"path": "/demo.Greeter/Lookup?x=1"}, NOT_GRPC),
        ("TCP", {"is_tcp": True}, NOT_GRPC),
    ],
)
def test_decision_table(case: str, overrides: dict[str, Any], expected: tuple[bool, int | None, str]) -> None:
    assert grpc_facts(view(**overrides)) == expected, case


def test_the_http_status_invents_no_grpc_code() -> None:
    assert grpc_facts(view(response_code=503)) == (True, None, "demo.Greeter/Lookup")


def test_path_method_cache_stays_bounded() -> None:
    for i in range(12_000):
        grpc_path_method(f"/api/orders/{i}")
    assert grpc_path_method("/a.B/C") == "a.B/C"
    from bridge.spans import semconv

    assert len(semconv._PATH_CACHE) <= 10_000
