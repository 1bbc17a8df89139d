"""The Envoy ALS v3 message classes, loaded into a private descriptor pool.

Why a private pool: the PyPI package that ships Envoy's generated Python code (`xds-protos`)
also ships a stale `opentelemetry/proto` that overwrites `opentelemetry-proto` when both are
installed. We keep it out of our dependencies and load the descriptors it was generated from
(`als_descriptors.binpb`, made by `scripts/extract_als_descriptors.py`) into a pool of our own,
so nothing here can clash with the default pool that `opentelemetry-proto` registers into.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_DESCRIPTOR_SET = "als_descriptors.binpb"


def _load_pool() -> descriptor_pool.DescriptorPool:
    data = resources.files(__package__).joinpath(_DESCRIPTOR_SET).read_bytes()
    fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    pool = descriptor_pool.DescriptorPool()
    for file_proto in fds.file:  # stored in dependency order
        pool.Add(file_proto)
    return pool


POOL = _load_pool()


def message_class(full_name: str) -> Any:
    """The class of a message in the private pool, e.g. `envoy.data.accesslog.v3.HTTPAccessLogEntry`."""
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(full_name))


StreamAccessLogsMessage = message_class("envoy.service.accesslog.v3.StreamAccessLogsMessage")
StreamAccessLogsResponse = message_class("envoy.service.accesslog.v3.StreamAccessLogsResponse")
HTTPAccessLogEntry = message_class("envoy.data.accesslog.v3.HTTPAccessLogEntry")
TCPAccessLogEntry = message_class("envoy.data.accesslog.v3.TCPAccessLogEntry")
AccessLogCommon = message_class("envoy.data.accesslog.v3.AccessLogCommon")
Node = message_class("envoy.config.core.v3.Node")

SERVICE_NAME = "envoy.service.accesslog.v3.AccessLogService"
METHOD_NAME = "StreamAccessLogs"
