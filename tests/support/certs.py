"""Throwaway TLS certificates for tests: a CA, a server certificate for 127.0.0.1, a client certificate,
and (`spiffe_client`) client certificates carrying a SPIFFE id as their URI SAN, as Istio's workload
certificates do.

Needs the `cryptography` package; tests that use this call `pytest.importorskip("cryptography")`.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class TestCerts:
    __test__ = False  # a fixture's type, not a test class for pytest to collect

    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes
    client_cert_pem: bytes
    client_key_pem: bytes
    ca_file: str
    client_cert_file: str
    client_key_file: str
    other_ca_file: str  # a CA that signed nothing here: verification against it must fail
    server_cert_file: str = ""
    server_key_file: str = ""
    directory: str = ""
    ca_key: Any = None  # the CA's private key, to sign more client certificates (`spiffe_client`)
    ca_cert: Any = None


@dataclass
class ClientCert:
    """A client certificate and its key, as PEM bytes and as files."""

    cert_pem: bytes
    key_pem: bytes
    cert_file: str
    key_file: str


def spiffe_id(namespace: str, service_account: str, trust_domain: str = "cluster.local") -> str:
    """Istio's SPIFFE id of a workload: `spiffe://TRUST_DOMAIN/ns/NS/sa/SA`."""
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def spiffe_client(certs: TestCerts, uri: str, name: str, *, signed_by_other_ca: bool = False) -> ClientCert:
    """A client certificate whose only SAN is the URI `uri`, signed by the test CA (or an unrelated one);
    written as `<name>.pem` and `<name>-key.pem` in the certificates' directory."""
    if signed_by_other_ca:
        ca_key, ca_cert = _ca("unrelated CA for " + name)
    else:
        ca_key, ca_cert = certs.ca_key, certs.ca_cert
    key, cert = _leaf(name, ca_key, ca_cert, server=False, uri=uri)
    cert_file, key_file = Path(certs.directory, f"{name}.pem"), Path(certs.directory, f"{name}-key.pem")
    cert_file.write_bytes(_cert_pem(cert))
    key_file.write_bytes(_key_pem(key))
    return ClientCert(_cert_pem(cert), _key_pem(key), str(cert_file), str(key_file))


def make_certs(directory: Path) -> TestCerts:
    ca_key, ca_cert = _ca("als-bridge test CA")
    _, other_ca_cert = _ca("unrelated CA")
    server_key, server_cert = _leaf("127.0.0.1", ca_key, ca_cert, server=True)
    client_key, client_cert = _leaf("als-bridge client", ca_key, ca_cert, server=False)
    files = {
        "ca.pem": _cert_pem(ca_cert),
        "other-ca.pem": _cert_pem(other_ca_cert),
        "client.pem": _cert_pem(client_cert),
        "client-key.pem": _key_pem(client_key),
        "server.pem": _cert_pem(server_cert),
        "server-key.pem": _key_pem(server_key),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return TestCerts(
        ca_pem=files["ca.pem"],
        server_cert_pem=_cert_pem(server_cert),
        server_key_pem=_key_pem(server_key),
        client_cert_pem=files["client.pem"],
        client_key_pem=files["client-key.pem"],
        ca_file=str(directory / "ca.pem"),
        client_cert_file=str(directory / "client.pem"),
        client_key_file=str(directory / "client-key.pem"),
        other_ca_file=str(directory / "other-ca.pem"),
        server_cert_file=str(directory / "server.pem"),
        server_key_file=str(directory / "server-key.pem"),
        directory=str(directory),
        ca_key=ca_key,
        ca_cert=ca_cert,
    )


def _ca(common_name: str) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(common_name: str, ca_key: Any, ca_cert: Any, *, server: bool, uri: str = "") -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(_name(common_name), ca_cert.subject, key.public_key()).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        if uri:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False
            )
    return key, builder.sign(ca_key, hashes.SHA256())


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: Any, issuer: Any, public_key: Any) -> Any:
    from cryptography import x509

    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )


def _cert_pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    data: bytes = cert.public_bytes(serialization.Encoding.PEM)
    return data


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    data: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return data
