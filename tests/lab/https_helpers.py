"""Throwaway certificates and client helpers for the lab HTTPS endpoint tests.

Independent of the lab PKI on purpose: these tests exercise the servers with whatever
PEM material they are handed. Root -> intermediate -> leaf for TLS (the chain exercises
`TlsMaterial.chain_pem` with an intermediate), an expired leaf, and SMP signing keys.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from vigie.lab.endpoint import LabHttpsServer
from vigie.lab.faults import FaultKind
from vigie.lab.tls import TlsMaterial

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ThrowawayPki:
    ca_pem: bytes
    tls: TlsMaterial
    leaf_cert: x509.Certificate
    expired_tls: TlsMaterial
    expired_cert: x509.Certificate
    rsa_signing_key: rsa.RSAPrivateKey
    rsa_signing_cert: x509.Certificate
    ec_signing_key: ec.EllipticCurvePrivateKey
    ec_signing_cert: x509.Certificate
    intermediate_cert: x509.Certificate
    access_point_cert: x509.Certificate

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca_pem.decode())

    def client(self) -> httpx.AsyncClient:
        # A fresh client per test: a kept-alive connection would keep its old certificate.
        return httpx.AsyncClient(verify=self.client_context(), timeout=10.0)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    common_name: str,
    key: PrivateKey,
    issuer_name: x509.Name,
    issuer_key: PrivateKey,
    *,
    ca: bool = False,
    days: tuple[int, int] = (-1, 30),
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    if server:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_throwaway_pki() -> ThrowawayPki:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _issue("test root", root_key, _name("test root"), root_key, ca=True)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = _issue("test intermediate", inter_key, root.subject, root_key, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _issue("127.0.0.1", leaf_key, inter.subject, inter_key, server=True)
    expired_key = ec.generate_private_key(ec.SECP256R1())
    expired = _issue(
        "127.0.0.1", expired_key, inter.subject, inter_key, server=True, days=(-30, -1)
    )
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ap_key = ec.generate_private_key(ec.SECP256R1())
    return ThrowawayPki(
        ca_pem=_pem(root),
        tls=TlsMaterial(_pem(leaf, inter), _key_pem(leaf_key)),
        leaf_cert=leaf,
        expired_tls=TlsMaterial(_pem(expired, inter), _key_pem(expired_key)),
        expired_cert=expired,
        rsa_signing_key=rsa_key,
        rsa_signing_cert=_issue("test SMP (RSA)", rsa_key, inter.subject, inter_key),
        ec_signing_key=ec_key,
        ec_signing_cert=_issue("test SMP (EC)", ec_key, inter.subject, inter_key),
        intermediate_cert=inter,
        access_point_cert=_issue("test AP", ap_key, inter.subject, inter_key),
    )


async def peer_certificate(url: str, server_hostname: str | None = None) -> x509.Certificate:
    """The certificate the server at `url` presents, read with verification off.

    `server_hostname` None connects by IP address, so the client sends no SNI.
    """
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _reader, writer = await asyncio.open_connection(
        parts.hostname, parts.port, ssl=context, server_hostname=server_hostname or parts.hostname
    )
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        await writer.wait_closed()
    return x509.load_der_x509_certificate(der)


@dataclass(frozen=True)
class TimedResponse:
    status: int
    headers: httpx.Headers
    seconds: float


async def timed_get(client: httpx.AsyncClient, url: str) -> TimedResponse:
    started = time.perf_counter()
    response = await client.get(url)
    return TimedResponse(response.status_code, response.headers, time.perf_counter() - started)


async def concurrent_gets(pki: ThrowawayPki, url: str, count: int) -> list[TimedResponse]:
    async with pki.client() as client:
        return list(await asyncio.gather(*(timed_get(client, url) for _ in range(count))))


# ---- Fault behaviour shared by every lab endpoint (SMP and Access Point) ----------------


@dataclass(frozen=True)
class FaultCase:
    kind: FaultKind
    params: dict[str, Any] = field(default_factory=dict)
    on_other_endpoint: bool = False
    status: int = 200
    at_least_seconds: float = 0.0


FAULT_CASES = [
    pytest.param(FaultCase(FaultKind.SMP_SLOW, {"delay": 0.2}, at_least_seconds=0.2), id="slow"),
    pytest.param(FaultCase(FaultKind.SMP_5XX, status=503), id="5xx-default-503"),
    pytest.param(FaultCase(FaultKind.SMP_5XX, {"status": 500}, status=500), id="5xx-500"),
    pytest.param(
        FaultCase(FaultKind.SMP_5XX, {"status": 502}, on_other_endpoint=True),
        id="5xx-on-other-endpoint-ignored",
    ),
    pytest.param(
        FaultCase(FaultKind.SMP_SATURATED, {"delay": 0.1}, at_least_seconds=0.1),
        id="saturated-single-request-admitted-but-slowed",
    ),
]


async def check_fault(
    server: LabHttpsServer, pki: ThrowawayPki, path: str, case: FaultCase
) -> None:
    target = "someone-else" if case.on_other_endpoint else server.name
    server.faults.inject(case.kind, target, **case.params)
    async with pki.client() as client:
        answer = await timed_get(client, server.url + path)
    assert answer.status == case.status
    assert answer.seconds >= case.at_least_seconds
    server.faults.heal_all()
    async with pki.client() as client:
        assert (await client.get(server.url + path)).status_code == 200


async def check_saturation(server: LabHttpsServer, pki: ThrowawayPki, path: str) -> None:
    capacity, delay = 2, 0.2
    server.faults.inject(FaultKind.SMP_SATURATED, server.name, capacity=capacity, delay=delay)
    answers = await concurrent_gets(pki, server.url + path, 2 * capacity)
    admitted = [answer for answer in answers if answer.status == 200]
    rejected = [answer for answer in answers if answer.status == 503]
    assert len(admitted) == capacity
    assert len(rejected) == capacity
    assert all(answer.headers["Retry-After"] == "1" for answer in rejected)
    # Each admitted request waits delay x requests in flight: latency climbs with load,
    # while the rejected ones are turned away at once.
    assert max(answer.seconds for answer in admitted) >= capacity * delay
    assert max(answer.seconds for answer in rejected) < min(a.seconds for a in admitted)


async def check_expired_certificate_switch(server: LabHttpsServer, pki: ThrowawayPki) -> None:
    assert (await peer_certificate(server.url)) == pki.leaf_cert
    server.faults.inject(FaultKind.CERT_EXPIRED, server.name)
    assert (await peer_certificate(server.url)) == pki.expired_cert
    async with pki.client() as client:
        with pytest.raises(httpx.ConnectError, match="certificate has expired"):
            await client.get(server.url + "/")
    server.faults.heal_all()
    assert (await peer_certificate(server.url)) == pki.leaf_cert
