"""`static_peers`: names for peers that carry no mx metadata (`receivers.envoy_als.static_peers`).

Read by the identity stage (`static_map`), so defined beside it; the receiver's config embeds them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields

from bridge.config.fields import FieldError


@dataclass
class PeerMatch:
    """What a static peer entry matches; exactly one key is set."""

    cidr: str = ""  # 10.20.0.0/16: the peer's IP address falls in it
    ip: str = ""  # one IP address
    cluster: str = ""  # the upstream cluster name, e.g. outbound|5432||db.example.com
    authority: str = ""  # the request's host, port stripped, e.g. api.stripe.com

    def validate(self) -> None:
        """Exactly one key, because an entry matching on two would leave unclear which one wins."""
        given = [f.name for f in fields(self) if getattr(self, f.name)]
        if len(given) != 1:
            names = ", ".join(f.name for f in fields(self))
            found = f"got {', '.join(given)}" if given else "got none"
            raise FieldError((), f"set exactly one of {names}; {found}")
        if self.cidr:
            try:
                ipaddress.ip_network(self.cidr, strict=True)
            except ValueError as exc:
                advice = ""
                if "host bits set" in str(exc):
                    advice = f"; did you mean {str(ipaddress.ip_network(self.cidr, strict=False))!r}?"
                raise FieldError(("cidr",), f"not a valid CIDR block: {exc}{advice}") from None
        if self.ip:
            try:
                ipaddress.ip_address(self.ip)
            except ValueError:
                raise FieldError(("ip",), f"not a valid IP address: {self.ip!r}") from None


@dataclass
class StaticPeer:
    """Names a peer that carries no mx metadata (a VM without sidecar, an external service)."""

    match: PeerMatch
    service: str
    namespace: str = ""
    version: str = ""
    workload: str = ""
    workload_kind: str = ""
    instance: str = ""
    cluster: str = ""

    def validate(self) -> None:
        if not self.service:
            raise FieldError(("service",), "must not be empty: it names the peer")
