"""SIGTERM while streams are running: every entry Envoy got an OK for is exported, exit 0 in 15 s.

An entry counts as acknowledged only when its stream's final response arrived (ALS has no other
acknowledgement); those must all reach the sink, found by request id. Entries of streams cut by
the shutdown may or may not arrive, and are not checked beyond being counted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.reliability.bridge_process import BridgeProcess, bridge_config, bridge_process, span_request_ids
from tests.support.loadgen import LoadResult, LoadSpec, run_load
from tests.support.otlp_sink import OTLPSink

STREAMS = 120
LOAD_BEFORE_SIGNAL = 6.0


async def _load_then_sigterm(bridge: BridgeProcess) -> tuple[LoadResult, int, float]:
    spec = LoadSpec(
        f"127.0.0.1:{bridge.als_port}",
        streams=STREAMS,
        duration=40.0,  # a bound only: the SIGTERM ends the run far sooner
        batch=4,
        interval=0.3,
        messages_per_stream=3,
        call_timeout=20.0,
        tag="term",
    )
    load = asyncio.create_task(run_load(spec))
    await asyncio.sleep(LOAD_BEFORE_SIGNAL)
    code, took = await asyncio.to_thread(bridge.terminate)
    result = await asyncio.wait_for(load, 30)
    return result, code, took


@pytest.mark.slow
def test_sigterm_under_load_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    with OTLPSink() as sink, bridge_process(bridge_config(sink.grpc_endpoint), tmp_path) as bridge:
        result, code, took = asyncio.run(_load_then_sigterm(bridge))
        arrived = set(span_request_ids(sink.spans()))
    assert code == 0 and took < 15, (code, took)
    assert result.entries_acked > 0 and result.errors, "the signal should land mid-load"
    missing = result.acked_request_ids - arrived
    assert not missing, (
        f"{len(missing)} of {result.entries_acked} acknowledged entries lost, e.g. {sorted(missing)[:5]}"
    )
