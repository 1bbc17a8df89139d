"""`google.rpc.Status` and `google.rpc.RetryInfo`, the two error-detail messages OTLP uses.

A gRPC backend that throttles puts a `Status` carrying a `RetryInfo` in the trailing metadata
`grpc-status-details-bin`; an OTLP/HTTP backend answers errors with a `Status` body. The
generated classes live in `googleapis-common-protos`, which is not a dependency, so the two
messages are declared here by hand (field numbers as in `google/rpc/status.proto` and
`google/rpc/error_details.proto`) in a private descriptor pool, where they cannot clash with a
copy that another package registers in the default pool.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, duration_pb2, message_factory
from google.protobuf.message import DecodeError

_F = descriptor_pb2.FieldDescriptorProto
_RETRY_INFO_TYPE = "google.rpc.RetryInfo"


def _load_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for dependency in (any_pb2, duration_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        dependency.DESCRIPTOR.CopyToProto(proto)
        pool.Add(proto)
    file = descriptor_pb2.FileDescriptorProto(
        name="als_bridge/google_rpc_subset.proto",
        package="google.rpc",
        syntax="proto3",
        dependency=[any_pb2.DESCRIPTOR.name, duration_pb2.DESCRIPTOR.name],
    )
    status = file.message_type.add(name="Status")
    status.field.add(name="code", number=1, type=_F.TYPE_INT32, label=_F.LABEL_OPTIONAL)
    status.field.add(name="message", number=2, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    status.field.add(
        name="details",
        number=3,
        type=_F.TYPE_MESSAGE,
        label=_F.LABEL_REPEATED,
        type_name=".google.protobuf.Any",
    )
    retry_info = file.message_type.add(name="RetryInfo")
    retry_info.field.add(
        name="retry_delay",
        number=1,
        type=_F.TYPE_MESSAGE,
        label=_F.LABEL_OPTIONAL,
        type_name=".google.protobuf.Duration",
    )
    pool.Add(file)
    return pool


_POOL = _load_pool()
Status: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("google.rpc.Status"))
RetryInfo: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(_RETRY_INFO_TYPE))


def parse_status(data: bytes) -> Any | None:
    """The `Status` in `data`, or None when it is not one (garbage must not mask the real error)."""
    try:
        return Status.FromString(data)
    except DecodeError:
        return None


def retry_delay(status: Any) -> float | None:
    """Seconds from the first `RetryInfo` among the status details, if the backend sent one."""
    for detail in status.details:
        if detail.type_url.rsplit("/", 1)[-1] != _RETRY_INFO_TYPE:
            continue
        try:
            info = RetryInfo.FromString(detail.value)
        except DecodeError:
            return None
        delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
        return max(0.0, float(delay))
    return None


def encode_status(code: int, message: str, retry_delay_seconds: float | None = None) -> bytes:
    """A serialised `Status`, with a `RetryInfo` detail when a delay is given (what a backend sends)."""
    status = Status(code=code, message=message)
    if retry_delay_seconds is not None:
        info = RetryInfo()
        info.retry_delay.FromNanoseconds(round(retry_delay_seconds * 1e9))
        status.details.add(type_url=f"type.googleapis.com/{_RETRY_INFO_TYPE}", value=info.SerializeToString())
    data: bytes = status.SerializeToString()
    return data
