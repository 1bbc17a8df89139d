"""The receiver's TLS, SPIFFE and limit settings: what loads, and what a bad config says.

The bad configs are files in testdata/, as a user would write them; each must fail with the key
path and a problem a user can act on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.components import load_config
from bridge.config import ComponentID, ConfigError
from bridge.receivers.envoy_als.config import EnvoyALSReceiverConfig, TLSServerConfig

TESTDATA = Path(__file__).parent / "testdata"

# file -> (key path, fragment of the problem)
BAD: dict[str, tuple[str, str]] = {
    "tls_cert_without_key.yaml": (
        "receivers.envoy_als.tls.key_file",
        "must be set together with cert_file",
    ),
    "tls_client_ca_without_server_cert.yaml": (
        "receivers.envoy_als.tls.client_ca_file",
        "needs cert_file and key_file",
    ),
    "spiffe_ids_without_client_ca.yaml": (
        "receivers.envoy_als.allowed_spiffe_ids",
        "needs tls.client_ca_file",
    ),
    "spiffe_id_without_scheme.yaml": (
        "receivers.envoy_als.allowed_spiffe_ids[1]",
        "must start with spiffe://, e.g. spiffe://cluster.local/ns/*/sa/*; "
        "got 'cluster.local/ns/shop/sa/cart'",
    ),
    "spiffe_id_double_star.yaml": (
        "receivers.envoy_als.allowed_spiffe_ids[0]",
        "'**' is not supported",
    ),
    "negative_rate_limit.yaml": (
        "receivers.envoy_als.max_entries_per_second_per_stream",
        "must not be negative (0 turns the limit off)",
    ),
    "connection_age_too_short.yaml": (
        "receivers.envoy_als.max_connection_age",
        "under 1s would recycle connections faster than Envoy logs; got 0.5s",
    ),
    "negative_connection_age_grace.yaml": (
        "receivers.envoy_als.max_connection_age_grace",
        "not a duration: '-1s'",
    ),
}


@pytest.mark.parametrize(("name", "expected"), sorted(BAD.items()))
def test_bad_config_names_key_path_and_problem(name: str, expected: tuple[str, str]) -> None:
    path, fragment = expected
    with pytest.raises(ConfigError) as caught:
        load_config(TESTDATA / name, environ={})
    assert f": {path}: " in str(caught.value)
    assert fragment in caught.value.problem


def test_mtls_with_allow_list_and_limits_loads() -> None:
    config = load_config(TESTDATA / "good_mtls_with_limits.yaml", environ={})
    receiver = config.receivers[ComponentID("envoy_als")]
    assert isinstance(receiver, EnvoyALSReceiverConfig)
    assert receiver.tls == TLSServerConfig(
        cert_file="/etc/als-bridge/server.pem",
        key_file="/etc/als-bridge/server-key.pem",
        client_ca_file="/etc/als-bridge/mesh-ca.pem",
    )
    assert receiver.allowed_spiffe_ids == [
        "spiffe://cluster.local/ns/istio-system/sa/*",
        "spiffe://cluster.local/ns/shop/sa/cart",
    ]
    assert (receiver.max_concurrent_streams, receiver.max_entries_per_second_per_stream) == (500, 2000)
    assert receiver.max_value_length == 1024


def test_defaults_are_plaintext_with_generous_limits() -> None:
    config = EnvoyALSReceiverConfig()
    assert not config.tls.enabled
    assert config.allowed_spiffe_ids == []
    assert config.max_concurrent_streams == 10_000
    assert config.max_entries_per_second_per_stream == 0  # off
    assert config.max_value_length == 4096


def test_tls_without_client_ca_is_server_tls_only() -> None:
    tls = TLSServerConfig(cert_file="server.pem", key_file="server-key.pem")
    tls.validate()
    assert tls.enabled


def test_connection_age_becomes_grpcs_own_server_options() -> None:
    """max_connection_age is gRPC's max_connection_age_ms (and _grace_ms); off by default."""
    from bridge.receivers.envoy_als.receiver import EnvoyALSReceiver

    def options(config: EnvoyALSReceiverConfig) -> dict[str, int]:
        receiver = EnvoyALSReceiver("envoy_als", config, converter=None)  # type: ignore[arg-type]
        return dict(receiver._server_options())

    default = options(EnvoyALSReceiverConfig())
    assert "grpc.max_connection_age_ms" not in default and "grpc.max_connection_age_grace_ms" not in default
    aged = options(EnvoyALSReceiverConfig(max_connection_age=600.0, max_connection_age_grace=30.0))
    assert aged["grpc.max_connection_age_ms"] == 600_000
    assert aged["grpc.max_connection_age_grace_ms"] == 30_000
