"""The benchmark's load generator: many Envoy-like ALS streams, as fast as the bridge takes them.

    .venv/bin/python -m bench.loadgen --target 127.0.0.1:PORT --entries 200000 --out FILE

Each stream is one Envoy worker's access logger: one client-streaming `StreamAccessLogs` call
that starts with the full Istio node identifier and then sends messages of N entries (by
default as many ~1 KB entries as fill Envoy's 16 KiB buffer; `--batch 100` for Envoy tuned to
big batches). Writes wait for HTTP/2 flow control, so a bridge that falls behind slows the
generator instead of piling up memory. Unlike `tests/support/loadgen.py` (paced streams that
end often, for acknowledgement-exact reliability tests), streams here stay open and send
back to back: this measures throughput.

Bounded: the run stops after `--entries` entries or `--duration` seconds, whichever comes first,
and every call has a deadline. The result (entries sent and acknowledged, seconds) is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import grpc

from bench.corpus import Stamper, entries_per_message, plan_stream, sidecar
from bridge.receivers.envoy_als import _protos

_METHOD = f"/{_protos.SERVICE_NAME}/{_protos.METHOD_NAME}"


class Budget:
    """The run's shared bound (one event loop: no lock)."""

    def __init__(self, entries: int, duration: float, rate: float) -> None:
        self.left = entries
        self.deadline = time.monotonic() + duration
        self.rate = rate
        self.started = time.monotonic()
        self.sent = 0

    def take(self, n: int) -> int:
        if time.monotonic() >= self.deadline or self.left <= 0:
            return 0
        n = min(n, self.left)
        self.left -= n
        self.sent += n
        return n

    async def pace(self) -> None:
        """With a rate, wait until the entries sent so far are due."""
        if self.rate:
            ahead = self.sent / self.rate - (time.monotonic() - self.started)
            if ahead > 0:
                await asyncio.sleep(ahead)


async def _stream(
    channel: grpc.aio.Channel, stamper: Stamper, per_message: int, budget: Budget
) -> dict[str, int]:
    sent = acked = 0
    call = channel.stream_unary(_METHOD, request_serializer=None, response_deserializer=None)(timeout=600)
    first = True
    try:
        while (n := budget.take(per_message)) == per_message:
            raw = stamper.next_message()
            if first:  # Envoy's first message carries the identifier; concatenated messages merge
                raw = stamper.identifier() + raw
                first = False
            await call.write(raw)
            sent += n
            await budget.pace()
        budget.left += n  # a short remainder goes back: messages stay full, as Envoy's do
        budget.sent -= n
        await call.done_writing()
        await call
        acked = sent
    except grpc.aio.AioRpcError as err:
        return {"sent": sent, "acked": 0, "error": 1, "code": err.code().value[0]}
    except asyncio.InvalidStateError:  # the server ended the call while we were writing
        code = await call.code()
        return {"sent": sent, "acked": 0, "error": 1, "code": code.value[0]}
    return {"sent": sent, "acked": acked, "error": 0}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    sidecars = [sidecar(i) for i in range(args.workloads)]
    plans = [plan_stream(rng, sidecars, i, args.templates) for i in range(args.streams)]
    stampers = []
    for i, plan in enumerate(plans):
        per = entries_per_message(plan, args.message_bytes, args.batch)
        stampers.append((Stamper(plan, per, f"{args.tag}{i}"), per))
    channels = [
        grpc.aio.insecure_channel(args.target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(max(1, args.streams // args.streams_per_channel))
    ]
    budget = Budget(args.entries, args.duration, args.rate)
    started = time.time_ns()
    results = await asyncio.gather(
        *(
            _stream(channels[i % len(channels)], stamper, per, budget)
            for i, (stamper, per) in enumerate(stampers)
        )
    )
    finished = time.time_ns()
    for channel in channels:
        await channel.close()
    sizes = [per for _, per in stampers]
    return {
        "entries_sent": sum(r["sent"] for r in results),
        "entries_acked": sum(r["acked"] for r in results),
        "streams": args.streams,
        "streams_failed": sum(r["error"] for r in results),
        "entries_per_message_min": min(sizes),
        "entries_per_message_max": max(sizes),
        "started_ns": started,
        "finished_ns": finished,
        "kinds": {k: sum(1 for p in plans if p.kind == k) for k in ("http", "tcp")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", required=True)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=0.0, help="entries/s over all streams (0: flat out)")
    parser.add_argument("--streams", type=int, default=48)
    parser.add_argument("--streams-per-channel", type=int, default=2)
    parser.add_argument("--workloads", type=int, default=60)
    parser.add_argument(
        "--templates", type=int, default=64, help="distinct calls per stream (peers, kinds, codes)"
    )
    parser.add_argument("--batch", type=int, default=0, help="entries per message (0: fill --message-bytes)")
    parser.add_argument("--message-bytes", type=int, default=16 * 1024)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tag", default="b")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
