"""Istio's upper-case node metadata (`NAME`, `NAMESPACE`, `LABELS`, ...) -> `Workload`.

Four forms carry the same upper-case keys: the reporting proxy's own `node.metadata`, the
`x-envoy-peer-metadata` header Struct, the Istio 1.5 `envoy.wasm.metadata_exchange.*` Struct
bytes and the FlatNode (whose fields Istio itself maps back to these keys). They all go
through `workload_from_metadata`, so the naming rules live in one place.

Input is a plain `dict[str, object]` (see `struct_to_dict`) rather than a protobuf, because
the node's Struct comes from a private descriptor pool (a different class from
`struct_pb2.Struct`) and the FlatNode is not a protobuf at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.identity.workload import IdentitySource, Workload

# Canonical-service chains, as the injector and Istio 1.29+ compute them (reference §3.3, §2.2).
_SERVICE_LABELS = ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app")
_VERSION_LABELS = ("service.istio.io/canonical-revision", "app.kubernetes.io/version", "version")
_APP_LABELS = ("app.kubernetes.io/name", "app")
_APP_VERSION_LABELS = ("app.kubernetes.io/version", "version")
_DEFAULT_TRUST_DOMAIN = "cluster.local"
_META_PREFIX = "ISTIO_META_"
_MAX_DEPTH = 8  # deeper Struct nesting is never identity; stop walking instead of recursing


def struct_to_dict(struct: Any, _depth: int = 0) -> dict[str, object]:
    """A protobuf Struct (any descriptor pool) as plain Python values.

    Walks `.fields` with `WhichOneof("kind")` instead of `json_format`, so it works on the
    private-pool Struct of `envoy.config.core.v3.Node` as well as on `struct_pb2.Struct`.
    Numbers stay floats, lists become lists, nested Structs become dicts, nulls are dropped.
    """
    out: dict[str, object] = {}
    for key, value in struct.fields.items():
        converted = _value_to_py(value, _depth)
        if converted is not None:
            out[key] = converted
    return out


def _value_to_py(value: Any, depth: int) -> object:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return str(value.string_value)
    if kind == "struct_value":
        return struct_to_dict(value.struct_value, depth + 1) if depth < _MAX_DEPTH else None
    if kind == "list_value":
        if depth >= _MAX_DEPTH:
            return None
        items = (_value_to_py(v, depth + 1) for v in value.list_value.values)
        return [item for item in items if item is not None]
    if kind == "number_value":
        return float(value.number_value)
    if kind == "bool_value":
        return bool(value.bool_value)
    return None  # null_value or unset


def as_str(value: object) -> str:
    """A metadata value as text: lists comma-joined (Istio's `StringList`), whole floats without `.0`."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, list):
        return ",".join(as_str(v) for v in value)
    return ""


def _get(md: Mapping[str, object], key: str) -> str:
    """`md[key]`, else the un-stripped `ISTIO_META_<key>` (a passthrough the agent did not rename)."""
    value = md.get(key)
    if value is None:
        value = md.get(_META_PREFIX + key)
    return as_str(value) if value is not None else ""


def _labels(md: Mapping[str, object]) -> Mapping[str, object]:
    labels = md.get("LABELS")
    return labels if isinstance(labels, dict) else {}


def first_label(labels: Mapping[str, object], keys: tuple[str, ...]) -> str:
    """The first non-empty label among `keys`, else ""."""
    for key in keys:
        value = labels.get(key)
        if value is not None:
            text = as_str(value)
            if text:
                return text
    return ""


def parse_owner(owner: str) -> tuple[str, str]:
    """`kubernetes://apis/apps/v1/namespaces/NS/deployments/NAME` -> ("deployment", "NAME").

    The kind is the plural resource with its `s` dropped, like Istio's `parseOwner`; anything
    that is not a `/namespaces/<ns>/<plural>/<name>` path gives ("", "").
    """
    parts = owner.split("/")
    if len(parts) < 4 or parts[-4] != "namespaces" or not parts[-1]:
        return "", ""
    plural = parts[-2].lower()
    kind = plural[:-1] if plural.endswith("s") else plural
    return kind, parts[-1]


def parse_node_id(node_id: str) -> tuple[str, str, str, str]:
    """`sidecar~10.1.2.3~pod-abc.ns~ns.svc.cluster.local` -> (type, ip, instance, namespace).

    Istio's `ServiceNode()` joins `Type~IP~POD_NAME.POD_NAMESPACE~DNSDomain`. Namespaces
    cannot contain dots, so the instance is everything before the last dot of part 3.
    Anything else gives empty strings (a non-Istio Envoy's id is free text).
    """
    parts = node_id.split("~")
    if len(parts) != 4:
        return "", "", "", ""
    node_type, ip, pod_ns, _domain = parts
    instance, _, namespace = pod_ns.rpartition(".")
    if not instance:
        instance, namespace = pod_ns, ""
    return node_type, ip, instance, namespace


def _principal(md: Mapping[str, object], namespace: str) -> str:
    identity = _get(md, "IDENTITY")
    if identity:
        return identity if identity.startswith("spiffe://") else "spiffe://" + identity
    service_account = _get(md, "SERVICE_ACCOUNT")
    if not service_account or not namespace:
        return ""
    trust_domain = _get(md, "TRUST_DOMAIN") or _DEFAULT_TRUST_DOMAIN
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def _platform_locality(md: Mapping[str, object]) -> tuple[str, str]:
    """Region and zone from `PLATFORM_METADATA` when the node has no locality.

    [inference] Keys follow Istio's platform detection: `aws_region` / `aws_availability_zone`
    and GCP's `gcp_location`, which is a zone (`us-central1-c`) for zonal clusters and a region
    (`us-central1`) for regional ones.
    """
    platform = md.get("PLATFORM_METADATA")
    if not isinstance(platform, dict):
        return "", ""
    region = as_str(platform.get("aws_region", ""))
    zone = as_str(platform.get("aws_availability_zone", ""))
    location = as_str(platform.get("gcp_location", ""))
    if location and not region:
        if location.count("-") >= 2:
            zone = zone or location
            region = location.rsplit("-", 1)[0]
        else:
            region = location
    return region, zone


def pod_typed_vm(kind: str, workload: str, instance: str) -> bool:
    """True for a peer that Istio typed `pod` although it is a VM.

    Istio 1.24+ rebuilds a peer from metadata with `convertStructToWorkloadMetadata`, whose
    workload type defaults to `pod` when the metadata has no Kubernetes owner (a VM from a
    WorkloadGroup has none); the object then writes `type: pod` into the peer Struct and
    `OWNER: kubernetes://.../pods/<workload>` into the `x-envoy-peer-metadata` it sends. A
    real pod's name is its workload's name (a bare pod) or starts with it and a dash (pods of a
    Deployment, StatefulSet, DaemonSet or Job); a VM's instance is its host name, which the
    WorkloadGroup name does not prefix. [inference] A VM whose host name does start with
    `<WorkloadGroup>-` is taken for a pod; its node metadata (no `OWNER`) still says VM when it
    reports for itself.
    """
    if kind != "pod" or not workload or not instance:
        return False
    return instance != workload and not instance.startswith(workload + "-")


def workload_from_metadata(md: Mapping[str, object], source: IdentitySource, node_id: str = "") -> Workload:
    """The `Workload` that upper-case Istio metadata describes.

    `node_id` (the node's id, or the peer's `x-envoy-peer-metadata-id`) fills the instance,
    namespace and IP when the metadata lacks them. A workload without `OWNER` is a VM
    (WorkloadEntry): Kubernetes pods always get `ISTIO_META_OWNER` from the injector; so is
    one whose owner Istio rebuilt as a pod of a workload that does not name it (`pod_typed_vm`).
    A `router~` node id is a gateway (ingress or egress), a `waypoint~` one an ambient waypoint.
    """
    labels = _labels(md)
    node_type, id_ip, id_instance, id_namespace = parse_node_id(node_id) if node_id else ("", "", "", "")
    owner = _get(md, "OWNER")
    kind, owner_name = parse_owner(owner) if owner else ("", "")
    namespace = _get(md, "NAMESPACE") or id_namespace
    instance = _get(md, "NAME") or id_instance
    workload = _get(md, "WORKLOAD_NAME") or owner_name
    ips = _get(md, "INSTANCE_IPS")
    region = _get(md, "REGION")
    zone = _get(md, "AVAILABILITY_ZONE")
    if not region and not zone:
        region, zone = _platform_locality(md)
    return Workload(
        service=first_label(labels, _SERVICE_LABELS) or workload or instance,
        namespace=namespace,
        version=first_label(labels, _VERSION_LABELS),
        workload=workload,
        workload_kind=kind,
        instance=instance,
        app=first_label(labels, _APP_LABELS),
        app_version=first_label(labels, _APP_VERSION_LABELS),
        cluster=_get(md, "CLUSTER_ID"),
        mesh=_get(md, "MESH_ID"),
        principal=_principal(md, namespace),
        ip=ips.split(",", 1)[0].strip() or id_ip,
        node_id=node_id,
        region=region,
        zone=zone,
        is_vm=not owner or pod_typed_vm(kind, workload, instance),
        is_gateway=node_type == "router",
        is_waypoint=node_type == "waypoint",
        source=source,
    )
