"""The lab PKI's certificates, CRLs and OCSP answers, built without any server."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from vigie.lab.pki import REMAINING_VALIDITY, IssuedCert, KeyType, LabPki, Revocation
from vigie.lab.pki_server import build_ocsp_response

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
BASE_URL = "http://127.0.0.1:41234"


@pytest.fixture(scope="module", params=["ec", "rsa"])
def pki(request: pytest.FixtureRequest) -> LabPki:
    key_type: KeyType = request.param
    return LabPki.generate(BASE_URL, now=NOW, key_type=key_type)


@pytest.fixture(scope="module")
def ec_pki() -> LabPki:
    return LabPki.generate(BASE_URL, now=NOW)


def verify_tls_chain(pki: LabPki, issued: IssuedCert, hostname: str, at: datetime) -> None:
    """Full RFC 5280 path validation, as a TLS client would do it."""
    verifier = (
        PolicyBuilder()
        .store(Store([pki.root.cert]))
        .time(at)
        .build_server_verifier(x509.DNSName(hostname))
    )
    verifier.verify(issued.cert, list(issued.chain[1:]))


# -- certificates ----------------------------------------------------------------------


def test_hierarchy_links_every_certificate_to_its_issuer(pki: LabPki) -> None:
    pki.root.cert.verify_directly_issued_by(pki.root.cert)
    pki.intermediate.cert.verify_directly_issued_by(pki.root.cert)
    below_intermediate = [issued for issued in pki.all_issued() if issued.chain[1:]]
    assert {issued.name for issued in below_intermediate} >= {
        "smp1",
        "smp2",
        "ap1",
        "smp1-expired",
        "smp_signing",
        "ocsp_responder",
    }
    for issued in below_intermediate:
        issued.cert.verify_directly_issued_by(pki.intermediate.cert)
        assert issued.chain == (issued.cert, pki.intermediate.cert)
        assert pki.root.cert_pem() not in issued.chain_pem()


def test_ca_constraints(pki: LabPki) -> None:
    def constraints(issued: IssuedCert) -> x509.BasicConstraints:
        return issued.cert.extensions.get_extension_for_class(x509.BasicConstraints).value

    assert constraints(pki.root).ca
    assert constraints(pki.intermediate).ca
    assert constraints(pki.intermediate).path_length == 0
    assert not constraints(pki.endpoint("smp1")).ca
    assert pki.root.cert.subject.rfc4514_string() == "CN=vigie lab root CA,O=vigie lab"
    assert pki.intermediate.cert.subject.rfc4514_string() == "CN=vigie lab issuing CA,O=vigie lab"


@pytest.mark.parametrize("name", ["smp1", "smp2", "ap1"])
def test_endpoint_certificates_pass_tls_path_validation(pki: LabPki, name: str) -> None:
    verify_tls_chain(pki, pki.endpoint(name), f"{name}.edelivery.test", NOW)
    san = pki.endpoint(name).cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.IPAddress) == [ipaddress.IPv4Address("127.0.0.1")]
    eku = pki.endpoint(name).cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert set(eku.value) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


@pytest.mark.parametrize("name", ["smp1", "smp2", "ap1"])
def test_expired_twin_is_the_same_server_past_its_notafter(ec_pki: LabPki, name: str) -> None:
    twin, live = ec_pki.expired(name), ec_pki.endpoint(name)
    assert twin.name == f"{name}-expired"
    assert twin.cert.not_valid_after_utc < NOW
    assert twin.cert.subject == live.cert.subject
    assert twin.cert.serial_number != live.cert.serial_number
    assert twin.key_pem() == live.key_pem()
    with pytest.raises(VerificationError, match="not valid at validation time"):
        verify_tls_chain(ec_pki, twin, f"{name}.edelivery.test", NOW)


@pytest.mark.parametrize("name", ["smp1", "smp2", "ap1", "smp_signing"])
def test_validity_follows_the_remaining_validity_table(ec_pki: LabPki, name: str) -> None:
    cert = ec_pki.by_name(name).cert
    assert cert.not_valid_before_utc < NOW
    expected = REMAINING_VALIDITY.get(name, timedelta(days=365))
    assert cert.not_valid_after_utc - NOW == expected
    assert REMAINING_VALIDITY["smp2"] < REMAINING_VALIDITY["ap1"] < timedelta(days=30)


def test_hostnames_override_the_default_names() -> None:
    pki = LabPki.generate(
        BASE_URL, endpoints=["smp9"], hostnames={"smp9": ["smp.example.test", "alt.test"]}, now=NOW
    )
    for issued in (pki.endpoint("smp9"), pki.expired("smp9")):
        san = issued.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == ["smp.example.test", "alt.test"]
    verify_tls_chain(pki, pki.endpoint("smp9"), "alt.test", NOW)
    with pytest.raises(KeyError):
        pki.endpoint("smp1")


@pytest.mark.parametrize(
    ("name", "crl_of"),
    [("intermediate", "root"), ("smp1", "intermediate"), ("smp_signing", "intermediate")],
)
def test_crl_and_aia_urls_point_at_the_lab_server(ec_pki: LabPki, name: str, crl_of: str) -> None:
    extensions = ec_pki.by_name(name).cert.extensions
    points = extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [name.value for point in points for name in point.full_name or []] == [
        f"{BASE_URL}/crl/{crl_of}.crl"
    ]
    assert ec_pki.crl_url(crl_of) == f"{BASE_URL}/crl/{crl_of}.crl"
    access = extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    urls = {(entry.access_method, entry.access_location.value) for entry in access}
    assert urls == {
        (AuthorityInformationAccessOID.OCSP, f"{BASE_URL}/ocsp"),
        (AuthorityInformationAccessOID.CA_ISSUERS, f"{BASE_URL}/ca/{crl_of}.crt"),
    }


def test_lookups(ec_pki: LabPki) -> None:
    assert ec_pki.ca("root") is ec_pki.root
    assert ec_pki.ca("intermediate") is ec_pki.intermediate
    assert ec_pki.by_name("smp_signing") is ec_pki.signing
    assert ec_pki.by_name("ap1-expired") is ec_pki.expired("ap1")
    assert ec_pki.ocsp_url == f"{BASE_URL}/ocsp"
    assert ec_pki.trust_anchor_pem() == ec_pki.root.cert_pem()
    with pytest.raises(KeyError):
        ec_pki.ca("smp1")
    with pytest.raises(KeyError):
        ec_pki.by_name("nope")


def test_pem_files_are_written_with_private_keys_unreadable_to_others(
    ec_pki: LabPki, tmp_path: Path
) -> None:
    ec_pki.write_pem_files(tmp_path)
    assert x509.load_pem_x509_certificate((tmp_path / "smp1.pem").read_bytes()) == (
        ec_pki.endpoint("smp1").cert
    )
    assert len(x509.load_pem_x509_certificates((tmp_path / "smp1.chain.pem").read_bytes())) == 2
    assert stat.S_IMODE((tmp_path / "smp1.key.pem").stat().st_mode) == 0o600


# -- CRLs ------------------------------------------------------------------------------


def test_crl_is_signed_by_its_ca_and_lists_exactly_what_it_is_given(pki: LabPki) -> None:
    smp1 = pki.endpoint("smp1").cert.serial_number
    revoked = [Revocation(smp1, NOW - timedelta(hours=2))]
    crl = pki.build_crl(
        "intermediate", revoked, NOW - timedelta(hours=1), NOW + timedelta(days=1), crl_number=7
    )
    assert crl.is_signature_valid(pki.intermediate.key.public_key())
    assert not crl.is_signature_valid(pki.root.key.public_key())
    assert crl.issuer == pki.intermediate.cert.subject
    assert crl.last_update_utc == NOW - timedelta(hours=1)
    assert crl.next_update_utc == NOW + timedelta(days=1)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    authority_key = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    subject_key = pki.intermediate.cert.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value
    assert authority_key.key_identifier == subject_key.digest
    assert [entry.serial_number for entry in crl] == [smp1]
    entry = crl.get_revoked_certificate_by_serial_number(smp1)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )


def test_crl_signed_by_the_impostor_key_keeps_the_issuer_but_fails_verification(
    ec_pki: LabPki,
) -> None:
    crl = ec_pki.build_crl(
        "root", [], NOW, NOW + timedelta(days=1), crl_number=1, signer_key=ec_pki.impostor_key
    )
    assert crl.issuer == ec_pki.root.cert.subject
    assert not crl.is_signature_valid(ec_pki.root.key.public_key())


# -- OCSP ------------------------------------------------------------------------------


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes = b"") -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def answer(pki: LabPki, request_der: bytes, revoked: list[Revocation]) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(build_ocsp_response(pki, request_der, revoked, NOW))


def assert_signed_by(response: ocsp.OCSPResponse, signer: x509.Certificate) -> None:
    public_key = signer.public_key()
    algorithm = response.signature_hash_algorithm
    assert algorithm is not None
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(
            response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm
        )
    else:
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        public_key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))


@pytest.mark.parametrize(
    ("name", "revoke", "expected"),
    [
        pytest.param("smp1", False, ocsp.OCSPCertStatus.GOOD, id="good"),
        pytest.param("smp1", True, ocsp.OCSPCertStatus.REVOKED, id="revoked"),
        pytest.param("smp2-expired", False, ocsp.OCSPCertStatus.GOOD, id="expired-still-known"),
        pytest.param("intermediate", True, ocsp.OCSPCertStatus.REVOKED, id="intermediate-revoked"),
    ],
)
def test_ocsp_status(pki: LabPki, name: str, revoke: bool, expected: ocsp.OCSPCertStatus) -> None:
    issued = pki.by_name(name)
    issuer = pki.ca(pki.issuer_of(issued))
    revoked_at = NOW - timedelta(hours=3)
    revoked = [Revocation(issued.cert.serial_number, revoked_at)] if revoke else []
    response = answer(pki, ocsp_request(issued.cert, issuer.cert), revoked)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is expected
    assert response.serial_number == issued.cert.serial_number
    assert response.this_update_utc == NOW
    assert response.next_update_utc == NOW + timedelta(hours=1)
    if revoke:
        assert response.revocation_time_utc == revoked_at
        assert response.revocation_reason is x509.ReasonFlags.key_compromise


def test_retired_certificate_is_revoked_without_any_fault(ec_pki: LabPki) -> None:
    request = ocsp_request(ec_pki.retired.cert, ec_pki.intermediate.cert)
    response = answer(ec_pki, request, list(ec_pki.baseline_revocations()))
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason is x509.ReasonFlags.superseded


def test_delegated_responder_signs_for_the_intermediate_and_chains_to_it(pki: LabPki) -> None:
    response = answer(pki, ocsp_request(pki.endpoint("smp1").cert, pki.intermediate.cert), [])
    assert response.certificates == [pki.ocsp_responder.cert]
    responder = response.certificates[0]
    responder.verify_directly_issued_by(pki.intermediate.cert)
    assert_signed_by(response, responder)
    eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert response.responder_key_hash == (
        x509.SubjectKeyIdentifier.from_public_key(responder.public_key()).digest
    )


def test_root_answers_for_the_intermediate_itself(ec_pki: LabPki) -> None:
    response = answer(ec_pki, ocsp_request(ec_pki.intermediate.cert, ec_pki.root.cert), [])
    assert response.certificates == []
    assert_signed_by(response, ec_pki.root.cert)


def test_ocsp_echoes_the_nonce(ec_pki: LabPki) -> None:
    request = ocsp_request(ec_pki.endpoint("ap1").cert, ec_pki.intermediate.cert, nonce=b"n" * 16)
    nonce = answer(ec_pki, request, []).extensions.get_extension_for_class(x509.OCSPNonce)
    assert nonce.value.nonce == b"n" * 16


def test_ocsp_accepts_sha256_cert_ids(ec_pki: LabPki) -> None:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(ec_pki.endpoint("smp1").cert, ec_pki.intermediate.cert, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    response = answer(ec_pki, request, [])
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert isinstance(response.hash_algorithm, hashes.SHA256)


def test_ocsp_says_unknown_for_a_serial_it_never_issued(ec_pki: LabPki) -> None:
    genuine = ocsp.load_der_ocsp_request(
        ocsp_request(ec_pki.endpoint("smp1").cert, ec_pki.intermediate.cert)
    )
    forged = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            genuine.issuer_name_hash, genuine.issuer_key_hash, 12345, hashes.SHA1()
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    response = answer(ec_pki, forged, [Revocation(12345, NOW)])
    assert response.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert response.revocation_time_utc is None


@pytest.mark.parametrize(
    ("request_der", "expected"),
    [
        pytest.param(b"\x30\x03garbage", ocsp.OCSPResponseStatus.MALFORMED_REQUEST, id="malformed"),
        pytest.param(b"", ocsp.OCSPResponseStatus.MALFORMED_REQUEST, id="empty"),
        pytest.param(None, ocsp.OCSPResponseStatus.UNAUTHORIZED, id="foreign-issuer"),
    ],
)
def test_ocsp_refusals(
    ec_pki: LabPki, request_der: bytes | None, expected: ocsp.OCSPResponseStatus
) -> None:
    if request_der is None:
        stranger = LabPki.generate(BASE_URL, endpoints=["smp1"], now=NOW)
        request_der = ocsp_request(stranger.endpoint("smp1").cert, stranger.intermediate.cert)
    assert answer(ec_pki, request_der, []).response_status is expected
