"""Trace-context precedence and id derivation: what makes both ends of a call one trace."""

from __future__ import annotations

from bridge.spans.tracecontext import derive_span_id, derive_trace_id, extract

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
B3_TRACE = "80f198ee56343ba864fe8b2a57d3eff7"


def test_traceparent_wins_over_b3_and_request_id() -> None:
    headers = {"traceparent": TRACEPARENT, "b3": f"{B3_TRACE}-e457b5a2e4d86bd1-1", "x-b3-traceid": B3_TRACE}
    ctx = extract(headers, "rid-1")
    assert ctx.source == "traceparent"
    assert ctx.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ctx.parent_span_id.hex() == "00f067aa0ba902b7"


def test_single_b3_wins_over_multi_header_b3() -> None:
    headers = {
        "b3": f"{B3_TRACE}-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
        "x-b3-traceid": "1" * 32,
        "x-b3-spanid": "2" * 16,
    }
    ctx = extract(headers, "")
    assert (ctx.source, ctx.trace_id.hex(), ctx.parent_span_id.hex()) == ("b3", B3_TRACE, "e457b5a2e4d86bd1")


def test_multi_header_b3_with_64_bit_trace_id_is_left_padded() -> None:
    ctx = extract({"x-b3-traceid": "64fe8b2a57d3eff7", "x-b3-spanid": "e457b5a2e4d86bd1"}, "rid")
    assert ctx.source == "x-b3"
    assert ctx.trace_id.hex() == "0000000000000000" + "64fe8b2a57d3eff7"


def test_invalid_traceparent_is_ignored_whole() -> None:
    for bad in (
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # not hex
    ):
        ctx = extract({"traceparent": bad}, "rid-7")
        assert ctx.source == "request-id", bad
        assert ctx.parent_span_id == b""


def test_b3_sampling_only_header_carries_no_context() -> None:
    assert extract({"b3": "0"}, "rid").source == "request-id"


def test_request_id_derivation_is_deterministic_and_distinct() -> None:
    a1, a2, b = extract({}, "req-a"), extract({}, "req-a"), extract({}, "req-b")
    assert a1.trace_id == a2.trace_id == derive_trace_id("req-a")
    assert a1.trace_id != b.trace_id
    assert len(a1.trace_id) == 16 and any(a1.trace_id)


def test_no_context_at_all() -> None:
    assert extract({}, "").source == "none"


def test_span_ids_depend_on_every_part() -> None:
    base = derive_span_id(b"t" * 16, "rid", "demo/a", "b:8080", "client")
    assert base == derive_span_id(b"t" * 16, "rid", "demo/a", "b:8080", "client")
    assert len(base) == 8
    others = {
        derive_span_id(b"u" * 16, "rid", "demo/a", "b:8080", "client"),
        derive_span_id(b"t" * 16, "rid2", "demo/a", "b:8080", "client"),
        derive_span_id(b"t" * 16, "rid", "demo/c", "b:8080", "client"),
        derive_span_id(b"t" * 16, "rid", "demo/a", "c:8080", "client"),
        derive_span_id(b"t" * 16, "rid", "demo/a", "b:8080", "server"),
        # part boundaries matter: ("ab", "c") is not ("a", "bc")
        derive_span_id(b"t" * 16, "ri", "ddemo/a", "b:8080", "client"),
    }
    assert base not in others and len(others) == 6
