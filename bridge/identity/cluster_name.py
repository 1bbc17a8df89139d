"""A peer named by the upstream cluster or the request authority, when no metadata named it.

Istio's cluster names (reference §7.1): `outbound|<port>|<subset>|<fqdn>`,
`outbound_.<port>_.<subset>_.<fqdn>` (SNI / DNS-SRV form), `inbound|<port>|<name>|<fqdn>`,
and the special `PassthroughCluster`, `BlackHoleCluster`, `InboundPassthroughCluster[Ipv4|Ipv6]`.

Decisions:
* The subset (`v1`) is not the version: a DestinationRule subset is a traffic-policy name that
  often, but not always, matches a `version` label. It stays in `ClusterName.subset`.
* A Workload has no port (a peer's identity does not change with the port it is called on);
  the port is in `ClusterName.port` for span attributes.
* Host -> service/namespace: `name.ns.svc.<domain>` gives both; a two-label `name.ns` gives
  both unless the last label is a common public suffix (`example.com` stays a host); any
  other host (a ServiceEntry like `api.stripe.com`) is the service name with no namespace.
"""

from __future__ import annotations

import ipaddress
from enum import Enum
from typing import NamedTuple

from bridge.identity.workload import IdentitySource, Workload


class Direction(Enum):
    """Which side of the reporting proxy the entry's peer is on."""

    INBOUND = "inbound"  # the peer called us (server side; the peer is downstream)
    OUTBOUND = "outbound"  # we called the peer (client side; the peer is upstream)


class ClusterName(NamedTuple):
    direction: Direction
    port: int  # 0 when absent or not a number
    subset: str
    host: str


_INBOUND_SPECIAL = ("InboundPassthroughCluster",)  # also ...Ipv4 / ...Ipv6 (prefix match)
_OUTBOUND_SPECIAL = frozenset({"PassthroughCluster", "BlackHoleCluster"})
# Last labels that make `a.b` a public host rather than `service.namespace`.
_PUBLIC_SUFFIXES = frozenset(
    {"com", "net", "org", "io", "dev", "app", "cloud", "ai", "co", "info", "biz", "gov", "edu", "local"}
)


def direction_from_cluster(name: str) -> Direction | None:
    """INBOUND / OUTBOUND from the cluster name's form, None when it says nothing."""
    if name.startswith("outbound|") or name.startswith("outbound_."):
        return Direction.OUTBOUND
    if name.startswith("inbound|") or name.startswith(_INBOUND_SPECIAL):
        return Direction.INBOUND
    if name in _OUTBOUND_SPECIAL:
        return Direction.OUTBOUND
    return None


def _port(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 5 else 0


def parse_cluster_name(name: str) -> ClusterName | None:
    """The parts of an Istio `inbound|...` / `outbound|...` / `outbound_.` cluster name."""
    if name.startswith("outbound_."):
        parts = name[len("outbound_.") :].split("_.", 2)
        if len(parts) != 3:
            return None
        return ClusterName(Direction.OUTBOUND, _port(parts[0]), parts[1], parts[2])
    parts = name.split("|")
    if len(parts) != 4:
        return None
    # `inbound-vip|<port>|<http|tcp>|<fqdn>`: a waypoint's cluster for a service it serves
    direction = {
        "outbound": Direction.OUTBOUND,
        "inbound": Direction.INBOUND,
        "inbound-vip": Direction.INBOUND,
    }.get(parts[0])
    if direction is None:
        return None
    return ClusterName(direction, _port(parts[1]), parts[2], parts[3])


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def service_and_namespace(host: str) -> tuple[str, str]:
    """`reviews.default.svc.cluster.local` -> ("reviews", "default"); see the module docstring."""
    labels = host.split(".")
    if len(labels) >= 3 and labels[2] == "svc" and labels[0] and labels[1]:
        return labels[0], labels[1]
    if len(labels) == 2 and labels[0] and labels[1] and labels[1] not in _PUBLIC_SUFFIXES:
        return labels[0], labels[1]
    return host, ""


def workload_from_cluster(name: str) -> Workload | None:
    """The peer an outbound cluster name points at (source CLUSTER), None for anything else."""
    parsed = parse_cluster_name(name)
    if parsed is None or parsed.direction is not Direction.OUTBOUND or not parsed.host:
        return None
    if _is_ip(parsed.host):
        return Workload(ip=parsed.host, source=IdentitySource.CLUSTER)
    service, namespace = service_and_namespace(parsed.host.lower())
    return Workload(service=service, namespace=namespace, source=IdentitySource.CLUSTER)


def authority_host(authority: str) -> str:
    """The host of an authority, lower-case, port stripped: `[::1]:80` -> `::1`, `A.b:80` -> `a.b`."""
    text = authority.strip()
    if text.startswith("["):
        end = text.find("]")
        return text[1:end].lower() if end > 0 else ""
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        text = host
    return text.rstrip(".").lower()


def workload_from_authority(authority: str) -> Workload | None:
    """The peer a request's authority names (source AUTHORITY).

    An IP literal names no service: the Workload carries only the IP.
    """
    host = authority_host(authority)
    if not host:
        return None
    if _is_ip(host):
        return Workload(ip=host, source=IdentitySource.AUTHORITY)
    service, namespace = service_and_namespace(host)
    return Workload(service=service, namespace=namespace, source=IdentitySource.AUTHORITY)
