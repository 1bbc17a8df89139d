"""The ALS receiver under bad input: it logs, counts, and keeps serving everything else."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest

from bridge.telemetry import SELF
from tests.fixtures.als import http_entry, message, send_stream
from tests.fixtures.metadata import any_bytes, any_struct, lower_struct
from tests.support.bridge import running_bridge, traces_and_logs_config
from tests.support.otlp_sink import OTLPSink, attributes


@pytest.fixture
def bridge_and_sink() -> Iterator[tuple[int, OTLPSink]]:
    SELF.reset()
    with OTLPSink() as sink:
        config = traces_and_logs_config(otlp_grpc=sink.grpc_endpoint, receiver={"max_recv_msg_size": "64KiB"})
        with running_bridge(config) as service:
            yield service.receivers[0].port, sink


def _request_ids(sink: OTLPSink) -> set[str]:
    return {attributes(s.attributes).get("envoy.request_id", "") for _, s in sink.spans()}


def test_identifier_is_kept_for_the_stream(bridge_and_sink: tuple[int, OTLPSink]) -> None:
    port, sink = bridge_and_sink
    first = message([http_entry(request_id="first")])
    later = message([http_entry(request_id="later")], identify=False)
    send_stream(port, [first.SerializeToString(), later.SerializeToString()])
    assert sink.wait_for(lambda: {"first", "later"} <= _request_ids(sink))
    resources = {r["service.name"] for r, _ in sink.spans()}
    assert resources == {"productpage"}


def test_malformed_message_is_skipped_and_the_stream_goes_on(bridge_and_sink: tuple[int, OTLPSink]) -> None:
    port, sink = bridge_and_sink
    good = message([http_entry(request_id="before")]).SerializeToString()
    after = message([http_entry(request_id="after")], identify=False).SerializeToString()
    send_stream(port, [good, b"\xff\xff\xff\xff\x0f garbage", after])
    assert sink.wait_for(lambda: {"before", "after"} <= _request_ids(sink))
    assert SELF.get("als_bridge_decode_errors_total", kind="malformed_message") == 1


def test_stream_without_identifier_is_dropped_and_counted_while_others_are_served(
    bridge_and_sink: tuple[int, OTLPSink],
) -> None:
    port, sink = bridge_and_sink
    anonymous = message([http_entry(request_id="anon-1"), http_entry(request_id="anon-2")], identify=False)
    threads = [
        threading.Thread(target=send_stream, args=(port, [anonymous.SerializeToString()])),
        threading.Thread(
            target=send_stream, args=(port, [message([http_entry(request_id="named")]).SerializeToString()])
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sink.wait_for(lambda: "named" in _request_ids(sink))
    assert not {"anon-1", "anon-2"} & _request_ids(sink)
    assert SELF.get("als_bridge_entries_dropped_total", reason="no_identifier") == 2


def test_oversized_message_is_skipped_and_counted(bridge_and_sink: tuple[int, OTLPSink]) -> None:
    port, sink = bridge_and_sink
    big = message([http_entry(request_id=f"big-{i}", path="/" + "x" * 2000) for i in range(50)])
    assert big.ByteSize() > 64 * 1024
    small = message([http_entry(request_id="small")], identify=True)
    send_stream(port, [big.SerializeToString(), small.SerializeToString()])
    assert sink.wait_for(lambda: "small" in _request_ids(sink))
    assert not any(rid.startswith("big-") for rid in _request_ids(sink))
    assert SELF.get("als_bridge_decode_errors_total", kind="oversized_message") == 1


def test_message_past_the_hard_cap_ends_only_its_own_stream(bridge_and_sink: tuple[int, OTLPSink]) -> None:
    port, sink = bridge_and_sink
    huge = message([http_entry(request_id=f"huge-{i}", path="/" + "y" * 4000) for i in range(1200)])
    with pytest.raises(grpc.RpcError) as err:
        send_stream(port, [huge.SerializeToString()])
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    send_stream(port, [message([http_entry(request_id="still-served")]).SerializeToString()])
    assert sink.wait_for(lambda: "still-served" in _request_ids(sink))


def test_garbage_peer_metadata_still_gives_a_span(bridge_and_sink: tuple[int, OTLPSink]) -> None:
    port, sink = bridge_and_sink
    corrupt = http_entry(
        request_id="corrupt", filter_state={"wasm.upstream_peer": any_bytes(b"\x08\x00\x00\x00junk")}
    )
    fine = http_entry(request_id="fine", filter_state={"upstream_peer": any_struct(lower_struct())})
    send_stream(port, [message([corrupt, fine]).SerializeToString()])
    assert sink.wait_for(lambda: {"corrupt", "fine"} <= _request_ids(sink))
    by_rid = {attributes(s.attributes)["envoy.request_id"]: attributes(s.attributes) for _, s in sink.spans()}
    assert by_rid["fine"]["service.peer.name"] == "reviews"
    assert by_rid["corrupt"]["service.peer.name"] == "b"  # named by the cluster, as the fallback
    assert SELF.get("als_bridge_decode_errors_total") >= 1
    kinds = {dict(s.labels)["kind"] for s in SELF.snapshot() if s.name == "als_bridge_decode_errors_total"}
    assert any(k.startswith("peer_metadata_") for k in kinds)
