"""OCSP checks: ask a certificate's responder about it and trust only a verified answer.

The answer must be `successful`, about our certificate (serial and issuer hashes), signed
by the issuer itself or by a delegated responder the issuer certified for OCSP signing,
and inside thisUpdate..nextUpdate. Each way of failing is its own reason; an unreachable
or unverifiable responder is never read as revoked or as good.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID
from pydantic import Field, PrivateAttr, model_validator

from probes._base import Check, CheckDefaults, FailureReason, PhaseTimer, ProbeEnv, ProbeResult
from probes._config import TargetBase
from probes.cert_checks import UNREADABLE_EXTENSION, cert_name, serial_hex
from probes.certs import CertificateParseError, name_text, read_certificates
from probes.crl import FETCH_SHARE
from probes.http_fetch import Failed, Problem, fetch, reason_of
from vocab import CheckUrl, Instant

__all__ = [
    "HTTP_REASONS",
    "OcspParams",
    "OcspTarget",
    "build_request",
    "expand_ocsp",
    "http_request",
    "judge",
    "probe_ocsp",
]

# An OCSP response is a few kilobytes; anything near this is not one.
MAX_RESPONSE_BYTES = 1024 * 1024
# Responders and agents disagree on the time by a little; thisUpdate may be that far ahead.
CLOCK_SKEW = timedelta(minutes=5)

_STATUS_REASONS = {
    ocsp.OCSPResponseStatus.TRY_LATER: FailureReason.OCSP_TRY_LATER,
    ocsp.OCSPResponseStatus.UNAUTHORIZED: FailureReason.OCSP_UNAUTHORIZED,
}
# What a responder that gives no answer to judge is (`probes.http_fetch` problems).
HTTP_REASONS = {
    **dict.fromkeys(Problem, FailureReason.OCSP_UNREACHABLE),
    Problem.STATUS: FailureReason.OCSP_HTTP_ERROR,
    Problem.TOO_LARGE: FailureReason.OCSP_MALFORMED,
    Problem.INTERNAL: FailureReason.INTERNAL_ERROR,
}


class OcspTarget(TargetBase):
    """A certificate whose revocation status is asked of its OCSP responder."""

    certificate: Path = Field(description="the certificate to ask about (PEM or DER file)")
    issuer: Path = Field(description="the certificate of the CA that issued it")
    url: CheckUrl | None = Field(
        None, description="the responder; unset: the certificate's AIA OCSP URL"
    )
    method: Literal["post", "get"] = Field(
        "post", description="POST application/ocsp-request, or GET with the request in the URL"
    )
    nonce: bool = Field(
        False, description="send a nonce; an answer echoing another one is rejected"
    )
    at: Instant | None = Field(
        None, description="judge as of this instant (ISO 8601, UTC without a zone) instead of now"
    )
    _cert: x509.Certificate | None = PrivateAttr(None)
    _issuer: x509.Certificate | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _read_certificates(self) -> OcspTarget:
        try:
            cert = read_certificates(self.certificate)[0]
        except CertificateParseError as exc:
            raise ValueError(f"certificate: {exc}") from None
        try:
            issuer = read_certificates(self.issuer)[0]
        except CertificateParseError as exc:
            raise ValueError(f"issuer: {exc}") from None
        if cert.issuer != issuer.subject:
            raise ValueError(
                f"issuer: {name_text(issuer.subject)} did not issue the certificate "
                f"(its issuer is {name_text(cert.issuer)})"
            )
        if self.url is None and not ocsp_urls(cert):
            raise ValueError("url: the certificate names no http(s) OCSP responder; set url")
        self._cert, self._issuer = cert, issuer
        return self


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except UNREADABLE_EXTENSION:
        return []
    return [
        description.access_location.value
        for description in access
        if description.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(description.access_location, x509.UniformResourceIdentifier)
        and description.access_location.value.lower().startswith(("http://", "https://"))
    ]


@dataclass(frozen=True, slots=True)
class OcspParams:
    url: str
    cert: x509.Certificate
    issuer: x509.Certificate
    method: Literal["post", "get"] = "post"
    nonce: bool = False
    at: datetime | None = None


def expand_ocsp(target: OcspTarget, defaults: CheckDefaults) -> Iterator[Check]:
    assert target._cert is not None
    assert target._issuer is not None
    timing = target.timing(defaults)
    url = target.url or ocsp_urls(target._cert)[0]
    params = OcspParams(url, target._cert, target._issuer, target.method, target.nonce, target.at)
    # Named as a person names it (its subject's CN; its serial only without one).
    name = f"{cert_name(target._cert)}@{url}"
    yield Check("ocsp", "pki", name, params, timing.interval, timing.timeout, timing.retries)


def build_request(params: OcspParams) -> tuple[ocsp.OCSPRequest, bytes | None]:
    """The request (SHA-1 CertID, as responders expect) and the nonce sent, if any."""
    # SHA-1 only identifies the certificate here (RFC 5019); nothing relies on its strength.
    sha1 = hashes.SHA1()  # noqa: S303
    builder = ocsp.OCSPRequestBuilder().add_certificate(params.cert, params.issuer, sha1)
    nonce = os.urandom(16) if params.nonce else None
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build(), nonce


def http_request(client: httpx.AsyncClient, params: OcspParams, der: bytes) -> httpx.Request:
    if params.method == "get":  # RFC 6960 A.1: base64, then URL-encoded, after a slash
        encoded = quote(base64.b64encode(der).decode(), safe="")
        return client.build_request("GET", f"{params.url.rstrip('/')}/{encoded}")
    headers = {"Content-Type": "application/ocsp-request"}
    return client.build_request("POST", params.url, content=der, headers=headers)


async def probe_ocsp(check: Check, env: ProbeEnv) -> ProbeResult:
    params: OcspParams = check.params
    if env.http is None:
        return ProbeResult.failure(FailureReason.INTERNAL_ERROR, "no HTTP client")
    timer = PhaseTimer(env.monotonic)
    request, nonce = build_request(params)
    try:
        message = http_request(env.http, params, request.public_bytes(serialization.Encoding.DER))
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return ProbeResult.failure(FailureReason.OCSP_UNREACHABLE, f"{type(exc).__name__}: {exc}")
    answer = await fetch(
        env.http,
        message,
        max_body=MAX_RESPONSE_BYTES,
        only_2xx=True,
        budget=check.timeout * FETCH_SHARE,
        monotonic=env.monotonic,
    )
    timer.lap("request")
    if isinstance(answer, Failed):
        reason = reason_of(answer, HTTP_REASONS)
        return ProbeResult.failure(reason, answer.detail, phases=timer.phases)
    now = params.at or datetime.fromtimestamp(env.wall_clock(), UTC)
    result = judge(answer.body, params, request, nonce, now)
    timer.lap("verify")
    return dataclasses.replace(result, phases=timer.phases)


def judge(
    body: bytes,
    params: OcspParams,
    request: ocsp.OCSPRequest,
    nonce: bytes | None,
    now: datetime,
) -> ProbeResult:
    """The verdict on one OCSP answer; pure, so every branch is tested without a server."""
    try:
        response = ocsp.load_der_ocsp_response(body)
    except ValueError as exc:
        return ProbeResult.failure(FailureReason.OCSP_MALFORMED, str(exc)[:200])
    status = response.response_status
    if status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        reason = _STATUS_REASONS.get(status, FailureReason.OCSP_ERROR)
        return ProbeResult.failure(reason, f"responder answered {status.name}")
    single = _our_response(response, params)
    if single is None:
        serials = ", ".join(f"{entry.serial_number:x}" for entry in response.responses)
        detail = f"answers for {serials or 'nothing'}, not {serial_hex(params.cert)}"
        return ProbeResult.failure(FailureReason.OCSP_WRONG_CERTIFICATE, detail)
    if nonce is not None and _nonce(response) not in (None, nonce):
        return ProbeResult.failure(FailureReason.OCSP_WRONG_CERTIFICATE, "another nonce echoed")
    problem = _signature_problem(response, params.issuer, now)
    if problem:
        return ProbeResult.failure(FailureReason.OCSP_BAD_SIGNATURE, problem)
    values = {
        "this_update_timestamp_seconds": single.this_update_utc.timestamp(),
        "produced_at_timestamp_seconds": response.produced_at_utc.timestamp(),
    }
    if single.next_update_utc is not None:
        values["next_update_timestamp_seconds"] = single.next_update_utc.timestamp()
    name = cert_name(params.cert)
    if single.certificate_status is ocsp.OCSPCertStatus.REVOKED:
        reason_flag = single.revocation_reason
        why = f" ({reason_flag.value})" if reason_flag else ""
        detail = f"{name} revoked at {single.revocation_time_utc:%Y-%m-%dT%H:%M:%SZ}{why}"
        return ProbeResult(FailureReason.CERTIFICATE_REVOKED, detail, values=values)
    if single.certificate_status is ocsp.OCSPCertStatus.UNKNOWN:
        return ProbeResult(FailureReason.OCSP_UNKNOWN, f"{name} unknown", values=values)
    if single.this_update_utc > now + CLOCK_SKEW:
        return ProbeResult(FailureReason.OCSP_STALE, "thisUpdate is in the future", values=values)
    if single.next_update_utc is not None and single.next_update_utc <= now:
        return ProbeResult(FailureReason.OCSP_STALE, "nextUpdate has passed", values=values)
    return ProbeResult(FailureReason.OK, values=values)


def _our_response(
    response: ocsp.OCSPResponse, params: OcspParams
) -> ocsp.OCSPSingleResponse | None:
    for single in response.responses:
        if single.serial_number != params.cert.serial_number:
            continue
        try:  # the responder may hash the CertID with another algorithm than ours
            mine = (
                ocsp.OCSPRequestBuilder()
                .add_certificate(params.cert, params.issuer, single.hash_algorithm)
                .build()
            )
        except (ValueError, UnsupportedAlgorithm):
            continue
        if (single.issuer_name_hash, single.issuer_key_hash) == (
            mine.issuer_name_hash,
            mine.issuer_key_hash,
        ):
            return single
    return None


def _nonce(response: ocsp.OCSPResponse) -> bytes | None:
    try:
        return response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except UNREADABLE_EXTENSION:
        return None


def _signature_problem(response: ocsp.OCSPResponse, issuer: x509.Certificate, now: datetime) -> str:
    """Why the answer's signature cannot be trusted, or "" when it can."""
    signer = next(
        (cert for cert in (issuer, *response.certificates) if _is_responder(response, cert)),
        None,
    )
    if signer is None:
        return "signed by a responder neither the issuer nor included in the answer"
    if signer is not issuer:  # a delegated responder (RFC 6960 4.2.2.2)
        if signer.issuer != issuer.subject:
            return f"responder {name_text(signer.subject)} was not issued by the issuer"
        try:
            signer.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            return "the responder certificate's signature does not verify with the issuer's key"
        if not _ocsp_signing(signer):
            return "the responder certificate lacks the OCSPSigning extended key usage"
        if not signer.not_valid_before_utc <= now <= signer.not_valid_after_utc:
            return "the responder certificate is outside its validity period"
    try:
        algorithm = response.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "unsupported signature algorithm"
    if not _signature_valid(
        signer.public_key(), response.signature, response.tbs_response_bytes, algorithm
    ):
        return "the signature does not verify"
    return ""


def _is_responder(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    key_id = x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    return response.responder_key_hash == key_id.digest


def _ocsp_signing(cert: x509.Certificate) -> bool:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except UNREADABLE_EXTENSION:
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in usages


def _signature_valid(
    key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, dsa.DSAPublicKey) and algorithm is not None:
            key.verify(signature, data, algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
