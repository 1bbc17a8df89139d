"""The `envoy_als` receiver: Envoy's Access Log Service over gRPC."""

from bridge.receivers.envoy_als.config import EnvoyALSReceiverConfig
from bridge.receivers.envoy_als.factory import factory
from bridge.receivers.envoy_als.receiver import EnvoyALSReceiver

__all__ = ["EnvoyALSReceiver", "EnvoyALSReceiverConfig", "factory"]
