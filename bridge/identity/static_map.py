"""The config's `static_peers`: names for peers that carry no metadata (VMs, external services).

Built once at start-up into hash maps so a lookup is a few dict probes:
* exact IPs: one dict keyed by the normalized address text;
* CIDRs: one dict per (IP version, prefix length), probed from the longest prefix down, so the
  most specific network wins; results are memoized per address in a bounded dict;
* clusters: exact name; authorities: host, port stripped, lower-case.

When two entries match the same key, the first in config order wins.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from bridge.cache import BoundedCache
from bridge.identity.cluster_name import authority_host
from bridge.identity.config import StaticPeer
from bridge.identity.workload import IdentitySource, Workload

_IP_CACHE_SIZE = 10_000
_MISS: Workload = Workload()  # a cached None is a found nothing; this marks a miss
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _workload(peer: StaticPeer, ip: str = "") -> Workload:
    """A static peer with an instance but no Kubernetes kind is a host (VM), not a pod."""
    return Workload(
        service=peer.service,
        namespace=peer.namespace,
        version=peer.version,
        workload=peer.workload,
        workload_kind=peer.workload_kind.lower(),
        instance=peer.instance,
        cluster=peer.cluster,
        ip=ip,
        is_vm=bool(peer.instance) and not peer.workload_kind,
        source=IdentitySource.STATIC,
    )


def _address(text: str) -> IPAddress | None:
    """The address, with IPv4-mapped IPv6 (`::ffff:10.0.0.1`) folded to IPv4; None if not an IP."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


class StaticPeerMap:
    """Matches an IP, cluster name or authority against the configured static peers."""

    def __init__(self, peers: Sequence[StaticPeer]) -> None:
        self._ips: dict[str, Workload] = {}
        # version -> [(prefix length, netmask int, {network int: peer})], longest prefix first
        self._cidrs: dict[int, list[tuple[int, int, dict[int, StaticPeer]]]] = {4: [], 6: []}
        self._clusters: dict[str, Workload] = {}
        self._authorities: dict[str, Workload] = {}
        self._ip_cache: BoundedCache[str, Workload | None] = BoundedCache(_IP_CACHE_SIZE)
        for index, peer in enumerate(peers):
            self._add(index, peer)
        tables = (self._ips, self._cidrs[4], self._cidrs[6], self._clusters, self._authorities)
        self.empty = not any(tables)

    def _add(self, index: int, peer: StaticPeer) -> None:
        m = peer.match
        keys = [k for k in ("cidr", "ip", "cluster", "authority") if getattr(m, k)]
        if len(keys) != 1:
            raise ValueError(f"static_peers[{index}]: match needs one of cidr, ip, cluster, authority")
        if not peer.service:
            raise ValueError(f"static_peers[{index}]: service is required")
        if m.ip:
            addr = _address(m.ip)
            if addr is None:
                raise ValueError(f"static_peers[{index}]: {m.ip!r} is not an IP address")
            self._ips.setdefault(str(addr), _workload(peer, str(addr)))
        elif m.cidr:
            self._add_cidr(index, peer)
        elif m.cluster:
            self._clusters.setdefault(m.cluster, _workload(peer))
        else:
            self._authorities.setdefault(authority_host(m.authority), _workload(peer))

    def _add_cidr(self, index: int, peer: StaticPeer) -> None:
        try:
            net = ipaddress.ip_network(peer.match.cidr, strict=False)
        except ValueError:
            raise ValueError(f"static_peers[{index}]: {peer.match.cidr!r} is not a CIDR") from None
        tables = self._cidrs[net.version]
        for plen, _mask, table in tables:
            if plen == net.prefixlen:
                table.setdefault(int(net.network_address), peer)
                return
        tables.append((net.prefixlen, int(net.netmask), {int(net.network_address): peer}))
        tables.sort(key=lambda t: -t[0])

    def by_ip(self, ip: str) -> Workload | None:
        """Exact IP first, then the longest matching CIDR (with `ip` set to the address)."""
        if not ip:
            return None
        found = self._ip_cache.get(ip, _MISS)
        if found is _MISS:
            found = self._ip_cache.put(ip, self._lookup_ip(ip))
        return found

    def _lookup_ip(self, ip: str) -> Workload | None:
        addr = _address(ip)
        if addr is None:
            return None
        text = str(addr)
        exact = self._ips.get(text)
        if exact is not None:
            return exact
        value = int(addr)
        for _plen, mask, table in self._cidrs[addr.version]:
            peer = table.get(value & mask)
            if peer is not None:
                return _workload(peer, text)
        return None

    def by_cluster(self, name: str) -> Workload | None:
        return self._clusters.get(name) if name else None

    def by_authority(self, authority: str) -> Workload | None:
        return self._authorities.get(authority_host(authority)) if authority and self._authorities else None

    def match(self, ip: str = "", cluster: str = "", authority: str = "") -> Workload | None:
        """The first of: IP / CIDR, cluster name, authority."""
        if self.empty:
            return None
        return self.by_ip(ip) or self.by_cluster(cluster) or self.by_authority(authority)
