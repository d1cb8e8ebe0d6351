"""OCSP verdicts on crafted answers: statuses, responder errors, identity, signatures, time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from probes import FailureReason
from probes.ocsp import OcspParams, build_request, judge
from vigie.lab.pki import IssuedCert, LabPki, Revocation
from vigie.lab.pki_server import build_ocsp_response

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki() -> LabPki:
    return LabPki.generate("http://127.0.0.1:9", now=NOW)


def ask(pki: LabPki, name: str = "smp1", *, nonce: bool = False) -> OcspParams:
    issued = pki.by_name(name)
    issuer = pki.ca(pki.issuer_of(issued))
    return OcspParams("http://127.0.0.1:9/ocsp", issued.cert, issuer.cert, nonce=nonce)


def lab_answer(pki: LabPki, params: OcspParams, revoked: tuple[str, ...] = ()) -> bytes:
    request, _ = build_request(params)
    revocations = [
        Revocation(pki.by_name(name).cert.serial_number, NOW - timedelta(days=1))
        for name in revoked
    ]
    return build_ocsp_response(
        pki, request.public_bytes(serialization.Encoding.DER), revocations, NOW
    )


def signed_answer(
    params: OcspParams,
    signer: IssuedCert,
    *,
    include: tuple[x509.Certificate, ...] = (),
    next_update: timedelta = timedelta(hours=1),
    status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
) -> bytes:
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            params.cert, params.issuer, hashes.SHA1(), status, NOW, NOW + next_update, None, None
        )
        .responder_id(ocsp.OCSPResponderEncoding.NAME, signer.cert)
    )
    if include:
        builder = builder.certificates(list(include))
    response = builder.sign(signer.key, hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)


def verdict(body: bytes, params: OcspParams, at: datetime = NOW) -> tuple[FailureReason, str]:
    request, nonce = build_request(params)
    result = judge(body, params, request, nonce, at)
    return result.reason, result.detail


def test_good_from_the_delegated_responder(pki: LabPki) -> None:
    params = ask(pki)
    request, _ = build_request(params)
    result = judge(lab_answer(pki, params), params, request, None, NOW)
    assert result.reason is FailureReason.OK
    assert result.values["next_update_timestamp_seconds"] == (NOW + timedelta(hours=1)).timestamp()


def test_good_for_the_intermediate_signed_by_the_root_itself(pki: LabPki) -> None:
    params = ask(pki, "intermediate")
    assert verdict(lab_answer(pki, params), params)[0] is FailureReason.OK


def test_revoked_names_the_time_and_reason(pki: LabPki) -> None:
    params = ask(pki)
    reason, detail = verdict(lab_answer(pki, params, revoked=("smp1",)), params)
    assert reason is FailureReason.CERTIFICATE_REVOKED
    assert "keyCompromise" in detail


def test_unknown_certificate(pki: LabPki) -> None:
    # Signed by the intermediate's key, but not one of the certificates the lab issued.
    cert = (
        x509.CertificateBuilder()
        .subject_name(pki.endpoint("smp1").cert.subject)
        .issuer_name(pki.intermediate.cert.subject)
        .public_key(pki.endpoint("smp1").key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(pki.intermediate.key, hashes.SHA256())
    )
    stranger = OcspParams("http://127.0.0.1:9/ocsp", cert, pki.intermediate.cert)
    request, _ = build_request(stranger)
    body = build_ocsp_response(pki, request.public_bytes(serialization.Encoding.DER), [], NOW)
    assert verdict(body, stranger)[0] is FailureReason.OCSP_UNKNOWN


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (ocsp.OCSPResponseStatus.TRY_LATER, FailureReason.OCSP_TRY_LATER),
        (ocsp.OCSPResponseStatus.UNAUTHORIZED, FailureReason.OCSP_UNAUTHORIZED),
        (ocsp.OCSPResponseStatus.MALFORMED_REQUEST, FailureReason.OCSP_ERROR),
        (ocsp.OCSPResponseStatus.INTERNAL_ERROR, FailureReason.OCSP_ERROR),
        (ocsp.OCSPResponseStatus.SIG_REQUIRED, FailureReason.OCSP_ERROR),
    ],
    ids=lambda value: getattr(value, "name", str(value)).lower(),
)
def test_responder_errors_are_distinct_reasons(
    pki: LabPki, status: ocsp.OCSPResponseStatus, expected: FailureReason
) -> None:
    body = ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )
    reason, detail = verdict(body, ask(pki))
    assert reason is expected
    assert status.name in detail


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>busy</html>", b"\x30\x03\x0a\x01"],
    ids=["empty", "html", "truncated"],
)
def test_garbage_is_malformed(pki: LabPki, body: bytes) -> None:
    assert verdict(body, ask(pki))[0] is FailureReason.OCSP_MALFORMED


def test_an_answer_about_another_certificate_is_rejected(pki: LabPki) -> None:
    body = lab_answer(pki, ask(pki, "smp2"))
    reason, detail = verdict(body, ask(pki, "smp1"))
    assert reason is FailureReason.OCSP_WRONG_CERTIFICATE
    assert f"{pki.endpoint('smp2').cert.serial_number:x}" in detail


def test_an_answer_for_the_same_serial_under_another_issuer_is_rejected(pki: LabPki) -> None:
    params = ask(pki)
    forged_issuer = OcspParams(params.url, params.cert, pki.root.cert)
    body = signed_answer(forged_issuer, pki.root)
    assert verdict(body, params)[0] is FailureReason.OCSP_WRONG_CERTIFICATE


def test_a_nonce_we_did_not_send_is_rejected(pki: LabPki) -> None:
    params = ask(pki, nonce=True)
    other, _ = build_request(params)  # another random nonce
    body = build_ocsp_response(pki, other.public_bytes(serialization.Encoding.DER), [], NOW)
    assert verdict(body, params)[0] is FailureReason.OCSP_WRONG_CERTIFICATE


@pytest.mark.parametrize(
    "case",
    [
        "impostor-key-as-issuer",
        "delegate-without-ocsp-signing",
        "delegate-not-included",
        "delegate-of-another-ca",
    ],
)
def test_untrusted_signatures_are_bad_signature(pki: LabPki, case: str) -> None:
    params = ask(pki)
    if case == "impostor-key-as-issuer":  # names the issuer, signed by another key
        impostor = (
            x509.CertificateBuilder()
            .subject_name(pki.intermediate.cert.subject)
            .issuer_name(pki.intermediate.cert.subject)
            .public_key(pki.impostor_key.public_key())
            .serial_number(1)
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=1))
            .sign(pki.impostor_key, hashes.SHA256())
        )
        fake = IssuedCert("impostor", impostor, pki.impostor_key, (impostor,))
        body = signed_answer(params, fake)
    elif case == "delegate-without-ocsp-signing":  # the SMP signing certificate has no EKU
        body = signed_answer(params, pki.signing, include=(pki.signing.cert,))
    elif case == "delegate-not-included":
        body = signed_answer(params, pki.ocsp_responder)
    else:  # issued by the root, not by smp1's issuer
        body = signed_answer(params, pki.root, include=(pki.root.cert,))
    reason, detail = verdict(body, params)
    assert reason is FailureReason.OCSP_BAD_SIGNATURE, detail


def test_a_delegated_responder_with_the_extension_verifies(pki: LabPki) -> None:
    params = ask(pki)
    body = signed_answer(params, pki.ocsp_responder, include=(pki.ocsp_responder.cert,))
    assert verdict(body, params)[0] is FailureReason.OK


def test_an_answer_past_next_update_is_stale(pki: LabPki) -> None:
    params = ask(pki)
    body = lab_answer(pki, params)
    assert verdict(body, params, NOW + timedelta(hours=2))[0] is FailureReason.OCSP_STALE
    future = NOW - timedelta(hours=1)
    assert verdict(body, params, future)[0] is FailureReason.OCSP_STALE
