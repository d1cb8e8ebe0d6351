"""Small local servers for the certificate tests: TLS with a given chain, and misbehaving
ones (a server that accepts and then says nothing, one that answers plain text).

Each is an async context manager yielding its port on 127.0.0.1; certificates come from
`vigie.lab.pki.LabPki` or are built by the test with cryptography.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from vigie.lab.pki import IssuedCert, PrivateKey
from vigie.lab.tls import TlsMaterial, server_ssl_context


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def material(issued: IssuedCert) -> TlsMaterial:
    return TlsMaterial(issued.chain_pem(), issued.key_pem())


@contextlib.asynccontextmanager
async def tls_server(tls: TlsMaterial) -> AsyncIterator[int]:
    """A TLS server presenting `tls`; it closes each connection once the handshake is done."""

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ssl_context(tls))
    async with server:
        yield server.sockets[0].getsockname()[1]


@contextlib.asynccontextmanager
async def raw_server(reply: bytes | None) -> AsyncIterator[int]:
    """A TCP server that sends `reply` and closes, or (None) reads and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if reply is None:
            held.append(writer)  # stalls the client mid-handshake until the test ends
            return
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        async with server:
            yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def issue(
    common_name: str,
    issuer: IssuedCert | None,
    *,
    not_before: datetime,
    not_after: datetime,
    key: PrivateKey | None = None,
    dns_names: Sequence[str] = (),
    ca: bool = False,
) -> IssuedCert:
    """A certificate signed by `issuer` (self-signed when None), for odd cases the lab
    PKI does not make: weak keys, odd names, unrelated roots."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if ca:
        usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    if issuer is not None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
        builder = builder.add_extension(aki, critical=False)
    if dns_names:
        names = [x509.DNSName(name) for name in dns_names]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    signer = issuer.key if issuer else key
    cert = builder.sign(signer, hashes.SHA256())
    chain = (cert, *(issuer.chain if issuer and issuer.chain[0] != cert else ()))
    return IssuedCert(common_name, cert, key, chain if issuer else (cert,))


def weak_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def days(count: float) -> timedelta:
    return timedelta(days=count)


def sha1_signed(openssl: str, issuer: IssuedCert, name: str, workdir: Path) -> x509.Certificate:
    """A certificate for `name` signed by `issuer` with ECDSA-SHA1, made by the openssl
    command line: cryptography refuses to sign with SHA-1, rightly, and so must we."""
    (workdir / "issuer.pem").write_bytes(issuer.cert_pem())
    (workdir / "issuer.key").write_bytes(issuer.key_pem())
    key = ec.generate_private_key(ec.SECP256R1())
    (workdir / "leaf.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    command = [
        *(openssl, "req", "-x509", "-new", "-sha1", "-days", "30"),
        *("-key", str(workdir / "leaf.key"), "-subj", f"/CN={name}"),
        *("-CA", str(workdir / "issuer.pem"), "-CAkey", str(workdir / "issuer.key")),
        *("-addext", f"subjectAltName=DNS:{name}", "-out", str(workdir / "leaf.pem")),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=30)
    return x509.load_pem_x509_certificate((workdir / "leaf.pem").read_bytes())
