"""Hostile input to the whole-path verdict: each is a reason, never a crash or a hang.

A small PKI made here points its CRL distribution points, OCSP responders and caIssuers
at a server on 127.0.0.1 that misbehaves per route: truncated DER, garbage PEM, a 50 MB
CRL, a responder that never answers, an AIA URL that serves the certificate itself. And
paths that loop (A signs B signs A).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from pydantic import ValidationError

from probes import CheckDefaults, FailureReason, ProbeEnv
from probes.cert_path import PathOptions, PathVerdict, Profile, RevocationMode, judge_path
from probes.x509 import CertificateTarget, expand_certificates, probe_x509
from tests.probes.local_server import LocalServer
from vigie.http import outbound_client

NOW = datetime.now(UTC).replace(microsecond=0)
MIB = 2**20


class Issued:
    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert, self.key = cert, key


def issue(
    name: str,
    issuer: Issued | None,
    *,
    ca: bool,
    crl: str | None = None,
    ocsp: str | None = None,
    ca_issuers: str | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
    issuer_name: str | None = None,
) -> Issued:
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_name = (
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)])
        if issuer_name
        else (issuer.cert.subject if issuer else subject)
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if crl:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    access = []
    if ocsp:
        location = x509.UniformResourceIdentifier(ocsp)
        access.append(x509.AccessDescription(AuthorityInformationAccessOID.OCSP, location))
    if ca_issuers:
        location = x509.UniformResourceIdentifier(ca_issuers)
        access.append(x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, location))
    if access:
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    signing_key = issuer.key if issuer else key
    return Issued(builder.sign(signing_key, hashes.SHA256()), key)


class Server(LocalServer):
    """One route per misbehaviour; counts what was asked."""

    method = "*"

    def __init__(self) -> None:
        super().__init__()
        self.hits: dict[str, int] = {}
        self.bodies: dict[str, bytes] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        if name in self.bodies:
            return web.Response(body=self.bodies[name])
        if name == "hang":
            await self.release.wait()
            return web.Response(body=b"")
        if name == "50mb.crl":
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            chunk = b"\x30" * (256 * 1024)
            try:
                for _ in range(50 * MIB // len(chunk)):
                    await response.write(chunk)
            except (ConnectionError, RuntimeError):
                pass  # the client stopped at its cap
            return response
        raise web.HTTPNotFound()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with Server() as running:
        yield running


@pytest.fixture(scope="module")
def root() -> Issued:
    return issue("bad input root", None, ca=True)


async def verdict(
    leaf: Issued,
    intermediates: list[Issued],
    anchors: list[Issued],
    revocation: RevocationMode,
    profile: Profile = Profile.RFC5280,
) -> PathVerdict:
    options = PathOptions(profile=profile, revocation=revocation, fetch_budget=0.5)
    async with outbound_client() as http:
        return await judge_path(
            leaf.cert,
            [cert.cert for cert in intermediates],
            [cert.cert for cert in anchors],
            at=NOW,
            options=options,
            env=ProbeEnv(http=http),
        )


def _crl_der(issuer: Issued) -> bytes:
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=1))
        .sign(issuer.key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    ("route", "body", "said"),
    [
        pytest.param("truncated.crl", "truncated", "crl_malformed", id="truncated-der-crl"),
        pytest.param("garbage.crl", b"-----BEGIN X509 CRL-----\n!!\n-----END X509 CRL-----\n",
                     "crl_malformed", id="garbage-pem-crl"),
        pytest.param("50mb.crl", None, "crl_too_large", id="50mb-crl"),
        pytest.param("hang", None, "crl_unreachable", id="stalled-distribution-point"),
        pytest.param("html.crl", b"<html>busy</html>", "crl_malformed", id="html-page"),
    ],
)  # fmt: skip
async def test_a_bad_crl_leaves_the_status_undetermined(
    server: Server, root: Issued, route: str, body: bytes | str | None, said: str
) -> None:
    if body == "truncated":
        body = _crl_der(root)[:40]
    if isinstance(body, bytes):
        server.bodies[route] = body
    leaf = issue("leaf", root, ca=False, crl=f"{server.url}/{route}")
    started = time.monotonic()
    result = await verdict(leaf, [], [root], RevocationMode.CRL)
    assert time.monotonic() - started < 5
    assert result.reason is FailureReason.REVOCATION_UNDETERMINED, result.detail
    assert said in result.detail
    assert "CN=leaf" in result.detail


@pytest.mark.parametrize(
    ("route", "body"),
    [
        pytest.param("hang", None, id="stalled-responder"),
        pytest.param("garbage", b"\x30\x03\x02\x01", id="truncated-der-answer"),
        pytest.param("missing", None, id="404"),
    ],
)
async def test_a_bad_ocsp_responder_leaves_the_status_undetermined(
    server: Server, root: Issued, route: str, body: bytes | None
) -> None:
    if body is not None:
        server.bodies[route] = body
    leaf = issue("leaf", root, ca=False, ocsp=f"{server.url}/{route}")
    result = await verdict(leaf, [], [root], RevocationMode.OCSP)
    assert result.reason is FailureReason.REVOCATION_UNDETERMINED, result.detail


async def test_a_good_crl_from_the_same_server_is_ok(server: Server, root: Issued) -> None:
    server.bodies["root.crl"] = _crl_der(root)
    leaf = issue("leaf", root, ca=False, crl=f"{server.url}/root.crl")
    result = await verdict(leaf, [], [root], RevocationMode.CRL)
    assert result.ok, result.detail


@pytest.mark.parametrize("profile", list(Profile))
async def test_a_path_that_loops_is_untrusted_not_endless(root: Issued, profile: Profile) -> None:
    # A signs B and B signs A; neither reaches the anchor.
    key_a, key_b = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    a = issue("loop A", Issued(root.cert, key_b), ca=True, key=key_a, issuer_name="loop B")
    b = issue("loop B", Issued(root.cert, key_a), ca=True, key=key_b, issuer_name="loop A")
    leaf = issue("leaf", a, ca=False)
    started = time.monotonic()
    result = await verdict(leaf, [a, b], [root], RevocationMode.NONE, profile)
    assert time.monotonic() - started < 5
    assert result.reason is FailureReason.CHAIN_UNTRUSTED


async def test_an_aia_pointing_at_itself_is_never_followed(server: Server, root: Issued) -> None:
    missing_ca = issue("never sent CA", root, ca=True)
    leaf = issue(
        "leaf", missing_ca, ca=False,
        ca_issuers=f"{server.url}/self.crt", ocsp=f"{server.url}/self.crt",
    )  # fmt: skip
    server.bodies["self.crt"] = leaf.cert.public_bytes(serialization.Encoding.DER)
    result = await verdict(leaf, [], [root], RevocationMode.NONE)
    assert result.reason is FailureReason.CHAIN_UNTRUSTED
    assert server.hits.get("self.crt", 0) == 0
    # With OCSP asked, the same URL answers with the certificate, not an OCSP response.
    leaf_of_root = issue("leaf", root, ca=False, ocsp=f"{server.url}/self.crt",
                         ca_issuers=f"{server.url}/self.crt")  # fmt: skip
    result = await verdict(leaf_of_root, [], [root], RevocationMode.OCSP)
    assert result.reason is FailureReason.REVOCATION_UNDETERMINED


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"\x30\x82\x01", "crl", id="truncated-der"),
        pytest.param(b"-----BEGIN X509 CRL-----\nnot base64\n-----END X509 CRL-----\n", "crl",
                     id="garbage-pem"),
        pytest.param(b"", "crl", id="empty"),
    ],
)  # fmt: skip
def test_a_bad_configured_crl_file_is_a_located_error(
    tmp_path: Path, root: Issued, content: bytes, message: str
) -> None:
    anchor = tmp_path / "root.pem"
    anchor.write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "bad.crl").write_bytes(content)
    with pytest.raises(ValidationError, match=message):
        CertificateTarget.model_validate(
            {
                "file": str(anchor),
                "trust_anchors": str(anchor),
                "revocation": "crl",
                "crl": [str(tmp_path / "bad.crl")],
            }
        )


@pytest.mark.parametrize("served", [True, False], ids=["served", "missing"])
async def test_a_configured_crl_url_speaks_for_certificates_that_name_none(
    server: Server, root: Issued, tmp_path: Path, served: bool
) -> None:
    if served:
        server.bodies["root.crl"] = _crl_der(root)
    leaf = issue("no distribution point", root, ca=False)
    (tmp_path / "leaf.pem").write_bytes(leaf.cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "root.pem").write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
    target = CertificateTarget.model_validate(
        {
            "file": str(tmp_path / "leaf.pem"),
            "trust_anchors": str(tmp_path / "root.pem"),
            "revocation": "crl",
            "crl": [f"{server.url}/root.crl"],
            "warn_before": "1d",
        }
    )
    (check,) = expand_certificates(target, CheckDefaults(timeout=10.0))
    async with outbound_client() as http:
        result = await probe_x509(check, ProbeEnv(http=http))
    if served:
        assert result.success, result.detail
    else:
        assert result.reason is FailureReason.REVOCATION_UNDETERMINED
        assert f"configured CRL {server.url}/root.crl: crl_http_error" in result.detail
