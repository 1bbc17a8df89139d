"""The reporting proxy's own identity, from the `identifier.node` of the first ALS message."""

from __future__ import annotations

from typing import Any

from bridge.identity.metadata import struct_to_dict, workload_from_metadata
from bridge.identity.workload import IdentitySource, Workload


def workload_from_node(node: Any) -> Workload:
    """The local end of every entry on a stream, from an `envoy.config.core.v3.Node`.

    Duck-typed (`.id`, `.metadata`, `.locality`): the Node class lives in a private descriptor
    pool, so an isinstance check against the default pool's classes would always fail. The
    node's Envoy locality fills region and zone when the metadata has no `REGION` /
    `AVAILABILITY_ZONE` (Istio sets the locality from the node's topology labels).
    """
    md = struct_to_dict(node.metadata)
    locality = getattr(node, "locality", None)
    if locality is not None:
        if locality.region and "REGION" not in md:
            md["REGION"] = str(locality.region)
        if locality.zone and "AVAILABILITY_ZONE" not in md:
            md["AVAILABILITY_ZONE"] = str(locality.zone)
    return workload_from_metadata(md, IdentitySource.NODE, str(node.id))
