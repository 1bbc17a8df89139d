"""The Istio 1.24+ peer Struct (`downstream_peer` / `upstream_peer`) -> `Workload`.

Istio 1.24+ logs `WorkloadMetadataObject::serializeAsProto()`: a `google.protobuf.Struct`
whose keys are lower-case (`type, workload, name, cluster, namespace, service, revision, app,
version`, + `identity`, `labels` 1.25+, + `region`, `availability_zone` 1.29+). Older forms
log Structs with the node's upper-case keys; `workload_from_mapping` tells them apart so every
Struct-shaped input goes through one entry point.

VM decision: Istio's `convertStructToWorkloadMetadata` defaults the workload type to `pod`
when `OWNER` is missing, so a 1.24+ Struct says `type: pod` for a VM too. A peer is a VM when
`type` is absent and an instance `name` is present, or when it is `pod`-typed and its `name`
(the VM's host name) is not a pod of its `workload` (the WorkloadGroup): see
`bridge.identity.metadata.pod_typed_vm`.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf import struct_pb2

from bridge.identity.errors import PeerMetadataError
from bridge.identity.metadata import (
    as_str,
    first_label,
    parse_node_id,
    pod_typed_vm,
    struct_to_dict,
    workload_from_metadata,
)
from bridge.identity.workload import IdentitySource, Workload

UPPER_KEYS = frozenset({"NAME", "NAMESPACE", "LABELS", "WORKLOAD_NAME"})
LOWER_KEYS = frozenset(
    {
        "type",
        "workload",
        "name",
        "cluster",
        "namespace",
        "service",
        "revision",
        "app",
        "version",
        "identity",
        "region",
        "availability_zone",
        "labels",
    }
)


def parse_struct(data: bytes) -> dict[str, object]:
    """Serialized `google.protobuf.Struct` bytes as a plain dict. Raises `PeerMetadataError`."""
    try:
        message = struct_pb2.Struct.FromString(data)
    except Exception:  # the protobuf runtime's parse errors vary by backend (upb, cpp, python)
        raise PeerMetadataError("struct", f"{len(data)} bytes are not a serialized Struct") from None
    return struct_to_dict(message)


def _has_any(md: Mapping[str, object], keys: frozenset[str]) -> bool:
    return any(key in md for key in keys)


def workload_from_lower(md: Mapping[str, object], source: IdentitySource, node_id: str = "") -> Workload:
    """The Workload of a lower-case (1.24+) peer Struct."""

    def get(key: str) -> str:
        value = md.get(key)
        return as_str(value) if value is not None else ""

    labels = md.get("labels")
    extra = labels if isinstance(labels, dict) else {}
    _type, id_ip, id_instance, id_namespace = parse_node_id(node_id) if node_id else ("", "", "", "")
    kind = get("type").lower()
    instance = get("name") or id_instance
    workload = get("workload")
    identity = get("identity")
    app = get("app") or first_label(extra, ("app.kubernetes.io/name", "app"))
    return Workload(
        service=get("service") or app or workload,
        namespace=get("namespace") or id_namespace,
        version=get("revision") or get("version"),
        workload=workload,
        workload_kind=kind,
        instance=instance,
        app=app,
        app_version=get("version") or first_label(extra, ("app.kubernetes.io/version", "version")),
        cluster=get("cluster"),
        principal=identity if not identity or identity.startswith("spiffe://") else "spiffe://" + identity,
        ip=id_ip,
        node_id=node_id,
        region=get("region"),
        zone=get("availability_zone"),
        is_vm=(not kind and bool(instance)) or pod_typed_vm(kind, workload, instance),
        source=source,
    )


def workload_from_mapping(md: Mapping[str, object], source: IdentitySource, node_id: str = "") -> Workload:
    """Any Struct-shaped peer: upper-case keys go to the node mapping, lower-case to the 1.24+ one.

    Raises `PeerMetadataError` when neither key set is present: protobuf happily parses many
    garbage byte strings as a Struct with no (or unknown) fields.
    """
    if _has_any(md, UPPER_KEYS):
        return workload_from_metadata(md, source, node_id)
    if _has_any(md, LOWER_KEYS):
        return workload_from_lower(md, source, node_id)
    raise PeerMetadataError("struct", "no identity keys")


def workload_from_struct_bytes(
    data: bytes, source: IdentitySource = IdentitySource.STRUCT, node_id: str = ""
) -> Workload:
    """The peer in serialized Struct bytes, either key style. Raises `PeerMetadataError`."""
    return workload_from_mapping(parse_struct(data), source, node_id)
