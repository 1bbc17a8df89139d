"""Who is at each end of an access log entry.

One module per identity source (`node`, `flatnode`, `peer_struct`, `headers`, `static_map`,
`cluster_name`), one resolver that picks among them (`resolve`), and the mapping to OTel
attributes (`resource`). Everything returns the same frozen `Workload`.
"""

from bridge.identity.cluster_name import Direction
from bridge.identity.errors import PeerMetadataError
from bridge.identity.node import workload_from_node
from bridge.identity.resolve import Ends, IdentityResolver
from bridge.identity.resource import peer_span_attributes, resource_attributes
from bridge.identity.workload import IdentitySource, Workload

__all__ = [
    "Direction",
    "Ends",
    "IdentityResolver",
    "IdentitySource",
    "PeerMetadataError",
    "Workload",
    "peer_span_attributes",
    "resource_attributes",
    "workload_from_node",
]
