"""Semantic checks for the component configs that predate the `validate()` hook.

A new component should rather give its config dataclass a `validate(self) -> None` method (the
Collector's `Validate()`), raising `FieldError(("key",), "problem")` or ValueError; the loader calls
it with the key path filled in. These rules are kept here, keyed by class, for configs whose modules
carry none, and apply wherever the class appears (e.g. `tls` under any exporter).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import fields
from typing import Any
from urllib.parse import urlsplit

from bridge.config._convert import Rule
from bridge.config._errors import FieldError
from bridge.exporters.config import OTLPExporterConfig, OTLPHTTPExporterConfig, TLSClientConfig
from bridge.processors.batch.config import BatchProcessorConfig
from bridge.receivers.envoy_als.config import EnvoyALSReceiverConfig, PeerMatch, StaticPeer


def host_port_problem(endpoint: str) -> str | None:
    """Why `endpoint` is not `host:port` (`[v6]:port` for IPv6; port 0 = any free port), or None."""
    if "://" in endpoint:
        return "must be host:port without a scheme"
    if endpoint.startswith("["):
        host, bracket_colon, port = endpoint[1:].partition("]:")
        if not bracket_colon:
            return "must be host:port; an IPv6 address is written [::1]:4317"
    else:
        host, colon, port = endpoint.rpartition(":")
        if not colon:
            return "must be host:port, e.g. 0.0.0.0:11800"
        if ":" in host:
            return "must be host:port; an IPv6 address is written in brackets: [::1]:4317"
    if not host or any(c.isspace() or c == "/" for c in host):
        return "must be host:port with a host name or address before the ':'"
    if not port.isdigit() or int(port) > 65535:
        return f"port {port!r} is not a number from 0 to 65535"
    return None


def http_url_problem(url: str) -> str | None:
    """Why `url` is not an http(s) URL with a host, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL, e.g. http://localhost:4318"
    if not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    return None


def _check_envoy_als(config: EnvoyALSReceiverConfig) -> None:
    problem = host_port_problem(config.endpoint)
    if problem:
        raise FieldError(("endpoint",), f"{problem}; got {config.endpoint!r}")
    if config.max_recv_msg_size <= 0:
        raise FieldError(("max_recv_msg_size",), "must be greater than 0")


def _check_static_peer(peer: StaticPeer) -> None:
    if not peer.service:
        raise FieldError(("service",), "must not be empty: it names the peer")


def _check_peer_match(match: PeerMatch) -> None:
    """Exactly one key, because an entry matching on two would leave unclear which one wins."""
    given = [f.name for f in fields(match) if getattr(match, f.name)]
    if len(given) != 1:
        names = ", ".join(f.name for f in fields(match))
        found = f"got {', '.join(given)}" if given else "got none"
        raise FieldError((), f"set exactly one of {names}; {found}")
    if match.cidr:
        try:
            ipaddress.ip_network(match.cidr, strict=True)
        except ValueError as exc:
            advice = ""
            if "host bits set" in str(exc):
                advice = f"; did you mean {str(ipaddress.ip_network(match.cidr, strict=False))!r}?"
            raise FieldError(("cidr",), f"not a valid CIDR block: {exc}{advice}") from None
    if match.ip:
        try:
            ipaddress.ip_address(match.ip)
        except ValueError:
            raise FieldError(("ip",), f"not a valid IP address: {match.ip!r}") from None


def _check_tls(tls: TLSClientConfig) -> None:
    if bool(tls.cert_file) != bool(tls.key_file):
        present, absent = ("cert_file", "key_file") if tls.cert_file else ("key_file", "cert_file")
        raise FieldError((absent,), f"must be set together with {present} (a client certificate needs both)")


def _check_otlp(config: OTLPExporterConfig) -> None:
    problem = host_port_problem(config.endpoint)
    if problem:
        problem += " (the gRPC exporter takes host:port; use tls.insecure for plaintext)"
        raise FieldError(("endpoint",), f"{problem}; got {config.endpoint!r}")


def _check_otlphttp(config: OTLPHTTPExporterConfig) -> None:
    for key in ("endpoint", "traces_endpoint", "metrics_endpoint", "logs_endpoint"):
        url: str = getattr(config, key)
        problem = (url or key == "endpoint") and http_url_problem(url)
        if problem:
            raise FieldError((key,), f"{problem}; got {url!r}")


def _check_batch(config: BatchProcessorConfig) -> None:
    for key in ("send_batch_size", "send_batch_max_size"):
        if getattr(config, key) < 0:
            raise FieldError((key,), "must not be negative")
    if config.send_batch_max_size and config.send_batch_max_size < config.send_batch_size:
        raise FieldError(
            ("send_batch_max_size",),
            f"must be 0 (no limit) or at least send_batch_size ({config.send_batch_size})",
        )


RULES: Mapping[type[Any], Rule] = {
    EnvoyALSReceiverConfig: _check_envoy_als,
    StaticPeer: _check_static_peer,
    PeerMatch: _check_peer_match,
    TLSClientConfig: _check_tls,
    OTLPExporterConfig: _check_otlp,
    OTLPHTTPExporterConfig: _check_otlphttp,
    BatchProcessorConfig: _check_batch,
}
