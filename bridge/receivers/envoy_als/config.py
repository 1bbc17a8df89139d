"""Configuration of the `envoy_als` receiver.

`static_peers` are read by the identity stage, so their classes live in `bridge.identity.config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bridge.config.fields import FieldError, check_cert_key_pair, check_host_port
from bridge.config.types import ByteSize, Duration
from bridge.identity.config import PeerMatch, StaticPeer
from bridge.metrics.config import MetricsConfig
from bridge.receivers.envoy_als.spiffe import pattern_problem


@dataclass
class TLSServerConfig:
    """TLS of the ALS listener. Nothing set: plaintext (h2c), as Envoy's ALS cluster speaks by default.

    Files are PEM and are read when the receiver starts, so an unreadable one stops the start
    with an error naming its key.
    """

    cert_file: str = ""  # the server certificate (chain); set together with key_file
    key_file: str = ""
    # When set, every client must present a certificate signed by this CA (mutual TLS).
    client_ca_file: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file)

    def validate(self) -> None:
        check_cert_key_pair(self.cert_file, self.key_file, "server")
        if self.client_ca_file and not self.cert_file:
            raise FieldError(
                ("client_ca_file",),
                "needs cert_file and key_file: client certificates are only asked for over TLS",
            )


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
    tls: TLSServerConfig = field(default_factory=TLSServerConfig)
    # SPIFFE ids (client certificate URI SAN) whose streams are accepted; empty = any client the
    # CA signed. `*` matches any characters within one segment (never a `/`). Needs client_ca_file.
    allowed_spiffe_ids: list[str] = field(default_factory=list)
    # Limits against broken or hostile clients; 0 turns a limit off.
    max_concurrent_streams: int = 10_000  # over all connections; also gRPC's per-connection limit
    max_entries_per_second_per_stream: int = 0  # a token bucket per stream, burst = one second's worth
    max_value_length: int = 4096  # longer header values and other strings are cut to this many characters
    # Recycle connections so streams spread over replicas: Envoy keeps an ALS stream open for the
    # life of the process, so a replica added by the autoscaler would get nothing until Envoy
    # reconnects. gRPC's own server options (grpc.max_connection_age_ms / _grace_ms): after
    # `max_connection_age` the server sends GOAWAY (Envoy opens its next stream on a new
    # connection, to any replica); after a further `max_connection_age_grace` the connection is
    # closed and Envoy opens a new stream, sending its identifier again. 0 = never (gRPC's default).
    max_connection_age: Duration = 0.0
    max_connection_age_grace: Duration = 10.0

    def validate(self) -> None:
        check_host_port("endpoint", self.endpoint)
        if self.max_recv_msg_size <= 0:
            raise FieldError(("max_recv_msg_size",), "must be greater than 0")
        for key in ("max_concurrent_streams", "max_entries_per_second_per_stream", "max_value_length"):
            if getattr(self, key) < 0:
                raise FieldError((key,), "must not be negative (0 turns the limit off)")
        if self.max_connection_age < 0:
            raise FieldError(
                ("max_connection_age",), "must not be negative (0: connections are never recycled)"
            )
        if 0 < self.max_connection_age < 1:
            raise FieldError(
                ("max_connection_age",),
                f"under 1s would recycle connections faster than Envoy logs; got {self.max_connection_age}s",
            )
        if self.max_connection_age_grace < 0:
            raise FieldError(("max_connection_age_grace",), "must not be negative")
        if self.allowed_spiffe_ids and not self.tls.client_ca_file:
            raise FieldError(
                ("allowed_spiffe_ids",),
                "needs tls.client_ca_file: a SPIFFE id is read from a verified client certificate",
            )
        for index, pattern in enumerate(self.allowed_spiffe_ids):
            problem = pattern_problem(pattern)
            if problem:
                raise FieldError(("allowed_spiffe_ids", index), f"{problem}; got {pattern!r}")


__all__ = ["EnvoyALSReceiverConfig", "PeerMatch", "StaticPeer", "TLSServerConfig"]
