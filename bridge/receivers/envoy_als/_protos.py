"""The Envoy ALS v3 message classes, loaded into a private descriptor pool.

Why a private pool: the PyPI package that ships Envoy's generated Python code (`xds-protos`)
also ships a stale `opentelemetry/proto` that overwrites `opentelemetry-proto` when both are
installed. We keep it out of our dependencies and load the descriptors it was generated from
(`als_descriptors.binpb`, made by `scripts/extract_als_descriptors.py`) into a pool of our own,
so nothing here can clash with the default pool that `opentelemetry-proto` registers into.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any

from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, message_factory

_DESCRIPTOR_SET = "als_descriptors.binpb"


def _load_pool() -> tuple[descriptor_pool.DescriptorPool, list[str]]:
    data = resources.files(__package__).joinpath(_DESCRIPTOR_SET).read_bytes()
    fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    pool = descriptor_pool.DescriptorPool()
    for file_proto in fds.file:  # stored in dependency order
        pool.Add(file_proto)
    return pool, [file_proto.name for file_proto in fds.file]


def _with_nested(types: Iterable[descriptor.Descriptor]) -> Iterator[descriptor.Descriptor]:
    for message_type in types:
        yield message_type
        yield from _with_nested(message_type.nested_types)


def _all_classes(pool: descriptor_pool.DescriptorPool, files: list[str]) -> list[Any]:
    """The class of every message type in the pool, to be held for the life of the process.

    Why: upb keeps a pool's message classes only weakly, and a sub-message's class is otherwise
    referenced only by the wrappers of a parsed message. The receiver parses a message, reads it
    and drops it, so without a strong reference the garbage collector frees the classes of
    `common_properties`, `socket_address`, map entries... and upb builds them again (a costly
    metaclass call) on the next read of such a field.
    """
    return [
        message_factory.GetMessageClass(message_type)
        for name in files
        for message_type in _with_nested(pool.FindFileByName(name).message_types_by_name.values())
    ]


POOL, _FILES = _load_pool()
_CLASSES = _all_classes(POOL, _FILES)


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
