"""`Workload`: the identity of one end of a call, whatever metadata form it came from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class IdentitySource(StrEnum):
    """Where an identity came from; tells a user how much to trust it."""

    NODE = "node"  # the reporting proxy's own node metadata
    FLATNODE = "flatnode"  # wasm.*_peer FlatNode (Istio 1.6-1.23)
    STRUCT = "struct"  # *_peer google.protobuf.Struct (Istio 1.24+)
    HEADER = "header"  # logged x-envoy-peer-metadata header
    STRING = "string"  # set_filter_state envoy.string: base64 Struct in a String/BytesValue
    STATIC = "static"  # the config's static map
    CLUSTER = "cluster"  # parsed from outbound|port|subset|fqdn
    AUTHORITY = "authority"  # the request's :authority / host
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Workload:
    """One end of a call. Empty string means "not known".

    Frozen and hashable: identities are cached by the raw metadata bytes and used as keys of
    pre-encoded OTLP resources, so the same peer is decoded and encoded once.
    """

    service: str = ""  # canonical service (service.istio.io/canonical-name chain)
    namespace: str = ""
    version: str = ""  # canonical revision chain
    workload: str = ""  # WORKLOAD_NAME / workload
    workload_kind: str = ""  # deployment | statefulset | daemonset | job | cronjob | replicaset | pod | ""
    instance: str = ""  # pod name, or VM host name
    app: str = ""  # label app / app.kubernetes.io/name (Istio's *_app)
    app_version: str = ""  # label version / app.kubernetes.io/version (Istio's *_version)
    cluster: str = ""  # CLUSTER_ID
    mesh: str = ""  # MESH_ID
    principal: str = ""  # spiffe://trust-domain/ns/NS/sa/SA
    ip: str = ""  # first INSTANCE_IPS entry, or the address the static map matched
    node_id: str = ""  # sidecar~IP~POD.NS~NS.svc.cluster.local when known
    region: str = ""
    zone: str = ""
    is_vm: bool = False  # a workload outside Kubernetes (no OWNER): host.name instead of pod attributes
    is_gateway: bool = False  # a `router~` node: an ingress or egress gateway
    is_waypoint: bool = False  # a `waypoint~` node: an ambient mesh's L7 proxy
    source: IdentitySource = IdentitySource.UNKNOWN

    @property
    def known(self) -> bool:
        return self.source is not IdentitySource.UNKNOWN
