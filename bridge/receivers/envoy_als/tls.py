"""TLS of the ALS listener: server credentials from the configured files, and the client's SPIFFE id.

The files are read when the receiver starts (not when the config loads), so `als-bridge validate`
works on a machine without the certificates; a file that cannot be used stops the start with an
error naming its key.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from bridge.receivers.envoy_als.config import TLSServerConfig


class TLSFileError(OSError):
    """A TLS file named in the config cannot be used; the message names the key and the file."""


def _read_pem(tls: TLSServerConfig, key: str, receiver: str) -> bytes:
    """The PEM file named by `tls.<key>`; an unreadable or non-PEM file stops the start, naming the key."""
    path: str = getattr(tls, key)
    where = f"receivers.{receiver}.tls.{key}"
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise TLSFileError(f"{where}: cannot read {path!r}: {err.strerror or err}") from None
    if b"-----BEGIN " not in data:
        raise TLSFileError(f"{where}: {path!r} is not a PEM file (no -----BEGIN line)")
    return data


def server_credentials(tls: TLSServerConfig, receiver: str) -> grpc.ServerCredentials:
    """gRPC credentials for `tls`; with a client CA, a client certificate it signed is required."""
    cert = _read_pem(tls, "cert_file", receiver)
    key = _read_pem(tls, "key_file", receiver)
    client_ca = _read_pem(tls, "client_ca_file", receiver) if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def peer_spiffe_id(context: grpc.aio.ServicerContext) -> str:
    """The SPIFFE id of the client's verified certificate, "" if it has none.

    gRPC's auth context carries it as `peer_spiffe_id` when the certificate has exactly one URI
    SAN and that starts with `spiffe://` (the X.509-SVID rule); `peer_uri` lists every URI SAN.
    """
    values = context.auth_context().get("peer_spiffe_id") or []
    return values[0].decode(errors="replace") if len(values) == 1 else ""
