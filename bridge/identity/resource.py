"""`Workload` -> OpenTelemetry resource attributes, and the peer's span attributes.

Resource attributes follow the OTel semantic conventions (service.*, k8s.*, host.*, cloud.*).
Decisions where the conventions leave room:
* `service.name` is the best name known: service, else workload, else app, else instance,
  else "unknown" (an UNKNOWN peer, or one named only by an IP).
* Kubernetes-only attributes (`k8s.namespace.name`, `k8s.pod.name`, `k8s.<kind>.name`,
  `k8s.cluster.name`) are set for workloads that are not VMs and have a Kubernetes kind, or that
  were named by a Kubernetes cluster name / authority; a VM gets `host.name` instead.
* `service.instance.id` is `<instance>.<namespace>` for pods and VMs alike (the `ID` part of
  Istio's node id, unique in a mesh), just `<instance>` without a namespace, omitted without one.
* `istio.mesh.id` carries `MESH_ID`; there is no OTel convention for a service mesh id.

Peer span attributes: `service.peer.name` and `service.peer.namespace` are the OTel
(development) conventions for the remote service; the workload has no convention, so we use
`istio.peer.workload.name` / `istio.peer.workload.namespace`, named after Istio's
`*_workload` / `*_workload_namespace` metric labels, rather than inventing a `k8s.peer.*`
namespace OTel might later define differently.

Both functions are memoized per Workload (it is frozen and hashable): the same few workloads
are rendered for every entry.
"""

from __future__ import annotations

from functools import lru_cache

from bridge.attributes import Attr
from bridge.identity.workload import IdentitySource, Workload

Attributes = tuple[Attr, ...]

UNKNOWN_SERVICE = "unknown"
K8S_KINDS = frozenset({"deployment", "statefulset", "daemonset", "job", "cronjob", "replicaset"})
_K8S_NAMED_BY = frozenset({IdentitySource.CLUSTER, IdentitySource.AUTHORITY})


def service_name(w: Workload) -> str:
    """The best available name for `service.name`; "unknown" when nothing names the workload."""
    return w.service or w.workload or w.app or w.instance or UNKNOWN_SERVICE


def is_k8s(w: Workload) -> bool:
    """A Kubernetes workload (pod of some kind), as opposed to a VM or an unplaced name."""
    return not w.is_vm and (bool(w.workload_kind) or (w.source in _K8S_NAMED_BY and bool(w.namespace)))


@lru_cache(maxsize=4096)
def resource_attributes(w: Workload) -> Attributes:
    """The resource attributes of spans, metrics and logs emitted on behalf of `w`, in fixed order."""
    k8s = is_k8s(w)
    attrs: list[Attr] = [("service.name", service_name(w))]
    if w.namespace:
        attrs.append(("service.namespace", w.namespace))
    if w.version:
        attrs.append(("service.version", w.version))
    if w.instance:
        instance_id = f"{w.instance}.{w.namespace}" if w.namespace else w.instance
        attrs.append(("service.instance.id", instance_id))
    if k8s:
        if w.namespace:
            attrs.append(("k8s.namespace.name", w.namespace))
        if w.instance:
            attrs.append(("k8s.pod.name", w.instance))
        if w.workload and w.workload_kind in K8S_KINDS:
            attrs.append((f"k8s.{w.workload_kind}.name", w.workload))
        if w.cluster:
            attrs.append(("k8s.cluster.name", w.cluster))
    elif w.is_vm and w.instance:
        attrs.append(("host.name", w.instance))
    if w.region:
        attrs.append(("cloud.region", w.region))
    if w.zone:
        attrs.append(("cloud.availability_zone", w.zone))
    if w.mesh:
        attrs.append(("istio.mesh.id", w.mesh))
    return tuple(attrs)


@lru_cache(maxsize=4096)
def peer_span_attributes(w: Workload) -> Attributes:
    """Attributes that name the other end on a span; empty for an UNKNOWN peer."""
    if not w.known:
        return ()
    attrs: list[Attr] = []
    name = service_name(w)
    if name != UNKNOWN_SERVICE:  # a peer named only by its IP has no service name to give
        attrs.append(("service.peer.name", name))
    if w.namespace:
        attrs.append(("service.peer.namespace", w.namespace))
    if w.workload:
        attrs.append(("istio.peer.workload.name", w.workload))
        if w.namespace:
            attrs.append(("istio.peer.workload.namespace", w.namespace))
    return tuple(attrs)
