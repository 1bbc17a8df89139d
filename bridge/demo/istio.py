"""Istio-shaped identities for real-Envoy meshes: Kubernetes pods, VMs and gateways.

Shared by the demo and the integration tests. Each `IstioWorkload` knows its node id and node
metadata the way Istio's agent writes them, and the forms in which Istio's proxies pass its
identity to a peer and log it:

* `node_metadata()`: the bootstrap `node.metadata` (`pkg/bootstrap` `GetNodeMetaData`):
  - pod: the injector's env (`ISTIO_META_WORKLOAD_NAME`, `ISTIO_META_OWNER`,
    `ISTIO_META_CLUSTER_ID`, ...) and the pod labels, plus the canonical-service labels the
    injector adds;
  - VM: what `istioctl x workload entry configure` writes for a WorkloadGroup (`cluster.env`
    and `mesh.yaml` proxyMetadata) and `istio-start.sh` passes on: `NAME` = the VM's short host
    name (`POD_NAME=$(hostname -s)`), `NAMESPACE` = the group's namespace, `WORKLOAD_NAME` = the
    group's name, `LABELS` from `ISTIO_METAJSON_LABELS` (the group template's labels plus the two
    canonical labels), `INSTANCE_IPS` = the VM's IP, and no `OWNER` (no Kubernetes controller);
    `AUTO_REGISTER_GROUP` names the group when the VM registers itself (a WorkloadEntry is then
    created from the group);
  - gateway: a pod of the `istio-ingressgateway` / `istio-egressgateway` Deployment with node
    type `router`; waypoint: a pod of a waypoint Deployment with node type `waypoint`.
* `node_id`: `ServiceNode()` = `<type>~<first IP>~<NAME>.<NAMESPACE>~<NAMESPACE>.svc.cluster.local`.
* `mx_header(istio)`: `x-envoy-peer-metadata`, base64 of a deterministically serialized Struct:
  up to 1.23 the node metadata itself (upper-case keys); from 1.24 the reduced form Istio's
  `convertStructToWorkloadMetadata` + `convertWorkloadMetadataToStruct` give (`NAME`,
  `NAMESPACE`, `WORKLOAD_NAME`, `CLUSTER_ID`, `OWNER` rebuilt from the workload type, which is
  `pod` when there is no owner, and the four identity `LABELS`).
* `peer_struct()` / `flatnode()`: what the receiving proxy stores as filter state and ALS logs:
  1.24+ the `WorkloadMetadataObject` as a lower-case Struct (`type`, `workload`, `name`,
  `cluster`, `namespace`, `service`, `revision`, `app`, `version`); 1.6 - 1.23 the FlatNode
  that `extractNodeFlatBufferFromStruct` builds from the header's Struct.

Facts from istio/istio (`pkg/istio-agent`, `pkg/bootstrap`, `istioctl/pkg/workload`,
`tools/packaging/common/istio-start.sh`) and istio/proxy (`extensions/common/metadata_object.cc`,
`proto_util.cc`, `node_info.fbs`), release 1.19 - 1.30, read for this module and restated here.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import flatbuffers
from google.protobuf import struct_pb2

Kind = Literal["pod", "vm", "gateway", "waypoint"]
CANONICAL_NAME = "service.istio.io/canonical-name"
CANONICAL_REVISION = "service.istio.io/canonical-revision"
_OWNER_PREFIX = "kubernetes://apis/apps/v1/namespaces/"
# FlatNode slots (node_info.fbs), in declaration order.
_FLATNODE_FIELDS = (
    "name",
    "namespace",
    "labels",
    "owner",
    "workload_name",
    "platform_metadata",
    "istio_version",
    "mesh_id",
    "app_containers",
    "cluster_id",
    "instance_ips",
    "identity",
)
_KEYVAL_FIELDS = ("labels", "platform_metadata")
_STRING_LIST_FIELDS = ("app_containers", "instance_ips")


@dataclass(frozen=True, slots=True)
class IstioWorkload:
    """One workload instance with an Istio proxy: a pod, a VM, or a gateway pod."""

    app: str
    namespace: str
    version: str
    kind: Kind
    instance: str  # pod name, or the VM's short host name
    ip: str = "127.0.0.1"
    cluster_id: str = "Kubernetes"
    mesh_id: str = "cluster.local"
    workload_name: str = ""  # Deployment / WorkloadGroup name; default below
    service_account: str = ""
    istio_version: str = "1.24.2"
    labels: Mapping[str, str] = field(default_factory=dict)  # extra pod / WorkloadGroup template labels

    @property
    def workload(self) -> str:
        """The Deployment (pods, gateways) or WorkloadGroup (VMs) name."""
        if self.workload_name:
            return self.workload_name
        return f"{self.app}-{self.version}" if self.kind == "pod" else self.app

    @property
    def node_type(self) -> str:
        return {"gateway": "router", "waypoint": "waypoint"}.get(self.kind, "sidecar")

    @property
    def node_id(self) -> str:
        domain = f"{self.namespace}.svc.cluster.local"
        return f"{self.node_type}~{self.ip}~{self.instance}.{self.namespace}~{domain}"

    @property
    def node_cluster(self) -> str:
        """`node.cluster`: the `app` label + "." + namespace."""
        return f"{self.app}.{self.namespace}"

    @property
    def spiffe_id(self) -> str:
        return f"spiffe://cluster.local/ns/{self.namespace}/sa/{self.service_account or self.app}"

    @property
    def owner(self) -> str:
        """`OWNER`: the controller of a pod; a VM has none."""
        if self.kind == "vm":
            return ""
        return f"{_OWNER_PREFIX}{self.namespace}/deployments/{self.workload}"

    def all_labels(self) -> dict[str, str]:
        """`LABELS`: the pod's (or the WorkloadGroup template's) labels and the canonical ones."""
        labels = {"app": self.app, "version": self.version, **self.labels}
        labels.setdefault(CANONICAL_NAME, self.app)
        labels.setdefault(CANONICAL_REVISION, self.version or "latest")
        return labels

    def node_metadata(self) -> dict[str, Any]:
        """The node metadata Istio's agent sends in the bootstrap (a fresh copy)."""
        md: dict[str, Any] = {
            "NAME": self.instance,
            "NAMESPACE": self.namespace,
            "LABELS": self.all_labels(),
            "WORKLOAD_NAME": self.workload,
            "CLUSTER_ID": self.cluster_id,
            "MESH_ID": self.mesh_id,
            "SERVICE_ACCOUNT": self.service_account or self.app,
            "INSTANCE_IPS": self.ip,
            "ISTIO_VERSION": self.istio_version,
        }
        if self.kind == "vm":
            md["AUTO_REGISTER_GROUP"] = self.workload
            md["NETWORK"] = ""
        else:
            md["OWNER"] = self.owner
            md["APP_CONTAINERS"] = self.app
        return md

    def mx_struct(self, istio: str) -> dict[str, Any]:
        """The Struct `x-envoy-peer-metadata` carries, for a sender of Istio version `istio`."""
        if not _at_least_124(istio):
            return self.node_metadata()
        labels = self.all_labels()
        kept = {k: labels[k] for k in (CANONICAL_NAME, CANONICAL_REVISION, "app", "version") if labels.get(k)}
        workload_type = "deployments" if self.owner else "pods"  # Istio's default type is pod
        return {
            "NAME": self.instance,
            "NAMESPACE": self.namespace,
            "WORKLOAD_NAME": self.workload,
            "CLUSTER_ID": self.cluster_id,
            "OWNER": f"{_OWNER_PREFIX}{self.namespace}/{workload_type}/{self.workload}",
            "LABELS": kept,
        }

    def mx_header(self, istio: str) -> str:
        return base64.b64encode(_serialize(self.mx_struct(istio))).decode("ascii")


def _at_least_124(version: str) -> bool:
    major, _, rest = version.partition(".")
    minor = rest.partition(".")[0]
    return (int(major), int(minor or 0)) >= (1, 24)


def _serialize(values: Mapping[str, Any]) -> bytes:
    struct = struct_pb2.Struct()
    struct.update(values)
    data: bytes = struct.SerializeToString(deterministic=True)
    return data


def peer_struct(md: Mapping[str, Any]) -> bytes:
    """Istio 1.24+: the `WorkloadMetadataObject` a proxy builds from a peer's upper-case Struct
    (`convertStructToWorkloadMetadata`), serialized as ALS logs it (`serializeAsProto`): a
    lower-case Struct, empty values left out, `type` from the owner's kind (`pod` without one)."""
    labels = md.get("LABELS") or {}
    workload = str(md.get("WORKLOAD_NAME", ""))
    owner = str(md.get("OWNER", ""))
    kind = "pod"
    suffix = f"s/{workload}"
    if workload and owner.endswith(suffix):
        token = owner[: -len(suffix)].rpartition("/")[2]
        kind = token if token in ("deployment", "job", "cronjob", "pod") else "pod"
    values = {
        "type": kind,
        "workload": workload,
        "name": str(md.get("NAME", "")),
        "cluster": str(md.get("CLUSTER_ID", "")),
        "namespace": str(md.get("NAMESPACE", "")),
        "service": str(labels.get(CANONICAL_NAME, "")),
        "revision": str(labels.get(CANONICAL_REVISION, "")),
        "app": str(labels.get("app", "")),
        "version": str(labels.get("version", "")),
    }
    return _serialize({k: v for k, v in values.items() if v})


def flatnode(md: Mapping[str, Any]) -> bytes:
    """Istio 1.6 - 1.23: the FlatNode `extractNodeFlatBufferFromStruct` builds from a peer's
    upper-case Struct (labels sorted by key, comma lists split)."""
    fields: dict[str, Any] = {}
    for name in _FLATNODE_FIELDS:
        if name == "labels":
            if md.get("LABELS"):
                fields[name] = md["LABELS"]
        elif name in _KEYVAL_FIELDS:
            continue
        elif name in _STRING_LIST_FIELDS:
            text = str(md.get(name.upper(), ""))
            if text:
                fields[name] = text.split(",")
        elif name != "identity" and md.get(name.upper()):
            fields[name] = str(md[name.upper()])
    return build_flatnode(**fields)


def build_flatnode(**fields: Any) -> bytes:
    """A FlatNode with the given fields (names as in `node_info.fbs`; labels and platform
    metadata as mappings, app containers and instance IPs as lists), written in slot order.
    Shared with the tests, which build FlatNodes field by field."""
    unknown = set(fields) - set(_FLATNODE_FIELDS)
    if unknown:
        raise TypeError(f"not FlatNode fields: {sorted(unknown)}")
    builder = flatbuffers.Builder(512)
    offsets: dict[int, int] = {}
    for slot, name in enumerate(_FLATNODE_FIELDS):
        if name not in fields:
            continue
        value = fields[name]
        if name in _KEYVAL_FIELDS:
            offsets[slot] = _key_vals(builder, value)
        elif name in _STRING_LIST_FIELDS:
            offsets[slot] = _vector(builder, [builder.CreateString(s) for s in value])
        else:
            offsets[slot] = builder.CreateString(value)
    builder.StartObject(len(_FLATNODE_FIELDS))
    for slot, offset in offsets.items():
        builder.PrependUOffsetTRelativeSlot(slot, offset, 0)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


def _key_vals(builder: flatbuffers.Builder, items: Mapping[str, Any]) -> int:
    """A vector of KeyVal tables sorted by key, as `CreateVectorOfSortedTables` writes it."""
    tables = []
    for key in sorted(items):
        k, v = builder.CreateString(key), builder.CreateString(str(items[key]))
        builder.StartObject(2)
        builder.PrependUOffsetTRelativeSlot(0, k, 0)
        builder.PrependUOffsetTRelativeSlot(1, v, 0)
        tables.append(builder.EndObject())
    return _vector(builder, tables)


def _vector(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return int(builder.EndVector())
