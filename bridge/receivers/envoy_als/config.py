"""Configuration of the `envoy_als` receiver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bridge.config.types import ByteSize
from bridge.metrics.config import MetricsConfig


@dataclass
class PeerMatch:
    """What a static peer entry matches; exactly one key is set."""

    cidr: str = ""  # 10.20.0.0/16: the peer's IP address falls in it
    ip: str = ""  # one IP address
    cluster: str = ""  # the upstream cluster name, e.g. outbound|5432||db.example.com
    authority: str = ""  # the request's host, port stripped, e.g. api.stripe.com


@dataclass
class StaticPeer:
    """Names a peer that carries no mx metadata (a VM without sidecar, an external service)."""

    match: PeerMatch
    service: str
    namespace: str = ""
    version: str = ""
    workload: str = ""
    workload_kind: str = ""
    instance: str = ""
    cluster: str = ""


@dataclass
class EnvoyALSReceiverConfig:
    # SkyWalking OAP's port, so an Istio config that points at SkyWalking works unchanged.
    endpoint: str = "0.0.0.0:11800"
    max_recv_msg_size: ByteSize = 4 * 1024 * 1024
    # both: every sidecar logs inbound and outbound (Istio's default). server_side: only
    # inbound entries arrive (Telemetry API match mode SERVER); CLIENT spans are synthesized.
    reporters: Literal["both", "server_side"] = "both"
    static_peers: list[StaticPeer] = field(default_factory=list)
    # the metric families computed when the receiver is in a metrics pipeline
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
