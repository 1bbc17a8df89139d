"""The two demo workloads' identities, shaped like an Istio sidecar's node.

Why Istio's shapes: the bridge resolves identities from Istio node metadata (upper-case keys),
node ids (`sidecar~IP~POD.NS~NS.svc.cluster.local`) and the `x-envoy-peer-metadata` header;
the demo must exercise the same decoders a real mesh would.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Literal

from google.protobuf import struct_pb2

NAMESPACE = "demo"
INSTANCE_IP = "127.0.0.1"

# pod: a Kubernetes pod with a sidecar; vm: a VM registered by a WorkloadGroup/WorkloadEntry
# (no pod, no OWNER); gateway: an ingress gateway pod (node id `router~...`).
Kind = Literal["pod", "vm", "gateway"]


@dataclass(frozen=True, slots=True)
class DemoWorkload:
    """One workload: by default a Deployment `<app>-<version>` with one pod (`pod` is its name);
    a VM (`kind="vm"`, `pod` is the VM's short host name) or an ingress gateway."""

    app: str
    version: str
    pod: str
    namespace: str = NAMESPACE
    ip: str = INSTANCE_IP
    kind: Kind = "pod"
    extra_labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def deployment(self) -> str:
        """The Deployment's name (a gateway's Deployment is named after its app, as Istio's is);
        for a VM, the WorkloadGroup's name."""
        if self.kind == "gateway":
            return self.app
        if self.kind == "vm":
            return self.app
        return f"{self.app}-{self.version}"

    @property
    def node_id(self) -> str:
        """Istio's `ServiceNode()`: type~first IP~pod.namespace~DNS domain (type `router` for gateways)."""
        node_type = "router" if self.kind == "gateway" else "sidecar"
        return f"{node_type}~{self.ip}~{self.pod}.{self.namespace}~{self.namespace}.svc.cluster.local"

    @property
    def spiffe_id(self) -> str:
        """The SPIFFE id Istio would put in this workload's certificate (service account = app)."""
        return f"spiffe://cluster.local/ns/{self.namespace}/sa/{self.app}"

    @property
    def node_cluster(self) -> str:
        """Istio's `node.cluster` default: `app` label + "." + namespace."""
        return f"{self.app}.{self.namespace}"

    def node_metadata(self) -> dict[str, Any]:
        """Node metadata with the keys Istio's injector and agent put there (a fresh copy).

        A VM's agent has no pod: `NAME` is the host name, `LABELS` come from the WorkloadGroup's
        template (`ISTIO_METAJSON_LABELS`), `WORKLOAD_NAME` is the WorkloadGroup, and there is
        no `OWNER` (what `istioctl x workload entry configure` writes into cluster.env).
        """
        metadata: dict[str, Any] = {
            "NAME": self.pod,
            "NAMESPACE": self.namespace,
            "LABELS": {
                "app": self.app,
                "version": self.version,
                "service.istio.io/canonical-name": self.app,
                "service.istio.io/canonical-revision": self.version,
                **self.extra_labels,
            },
            "WORKLOAD_NAME": self.deployment,
            "CLUSTER_ID": "Kubernetes",
            "MESH_ID": "cluster.local",
            "SERVICE_ACCOUNT": self.app,
            "INSTANCE_IPS": self.ip,
        }
        if self.kind == "vm":
            metadata["NETWORK"] = "vm-network"
        else:
            owner = f"kubernetes://apis/apps/v1/namespaces/{self.namespace}/deployments/{self.deployment}"
            metadata["OWNER"] = owner
        return metadata

    def peer_metadata_header(self) -> str:
        """`x-envoy-peer-metadata`: base64 of the deterministically serialized node-metadata Struct.

        Istio up to 1.23 sends the whole upper-case metadata this way (1.24+ a reduced subset of
        the same keys), so a decoder that reads this reads both.
        """
        struct = struct_pb2.Struct()
        struct.update(self.node_metadata())
        return base64.b64encode(struct.SerializeToString(deterministic=True)).decode("ascii")


CLIENT = DemoWorkload(app="a", version="v1", pod="a-v1-5c6b7-fghij")
SERVER = DemoWorkload(app="b", version="v1", pod="b-v1-7d9f8-abcde")
