"""CRL checks refuse what RFC 5280 says must not be used, and say whom a CRL cannot speak for.

Each case is a CRL listing a monitored certificate that must NOT be read as `revoked`
(unusable CRL, or a scope that excludes the certificate), beside the ones that still must.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from probes import Check, FailureReason, ProbeEnv
from probes.crl import CrlParams, judge, probe_crl
from probes.crl_cache import CrlCache, FetchedCrl
from probes.crl_fetch import entry_problem, parse_crl, parse_crls
from vigie.lab.pki import LabPki

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PRIVATE = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")


@pytest.fixture(scope="module")
def pki() -> LabPki:
    return LabPki.generate("http://127.0.0.1:9", now=NOW)


def build(
    pki: LabPki,
    *,
    ca: str = "intermediate",
    listed: tuple[str, ...] = ("smp1",),
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
    entry_extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
    signer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
) -> bytes:
    name, key = signer or (pki.ca(ca).cert.subject, pki.ca(ca).key)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(name)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=1))
        .add_extension(x509.CRLNumber(3), critical=False)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    for entry_name in listed:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(pki.by_name(entry_name).cert.serial_number)
            .revocation_date(NOW - timedelta(days=1))
        )
        for extension, critical in entry_extensions:
            entry = entry.add_extension(extension, critical)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def verdict(
    der: bytes,
    pki: LabPki,
    *,
    monitored: tuple[x509.Certificate, ...] | None = None,
    issuers: tuple[x509.Certificate, ...] | None = None,
) -> Any:
    crl = parse_crl(der)
    serials = frozenset(entry.serial_number for entry in crl)
    fetched = FetchedCrl(
        FailureReason.OK, crl=crl, serials=serials, entry_problem=entry_problem(crl)
    )
    params = CrlParams(
        "http://127.0.0.1:9/crl/intermediate.crl",
        issuers or (pki.root.cert, pki.intermediate.cert),
        monitored or (pki.endpoint("smp1").cert, pki.endpoint("ap1").cert),
        warn_before=3600.0,
        refresh=900.0,
        max_size=2**20,
    )
    return judge(fetched, params, NOW.timestamp(), CrlCache())


def scope(**fields: Any) -> tuple[x509.IssuingDistributionPoint, bool]:
    values: dict[str, Any] = {
        "full_name": None,
        "relative_name": None,
        "only_contains_user_certs": False,
        "only_contains_ca_certs": False,
        "only_some_reasons": None,
        "indirect_crl": False,
        "only_contains_attribute_certs": False,
    }
    return x509.IssuingDistributionPoint(**{**values, **fields}), True


UNKNOWN_CRITICAL = (x509.UnrecognizedExtension(PRIVATE, b"\x05\x00"), True)
THOUSAND_CRITICAL = tuple(
    (
        x509.UnrecognizedExtension(x509.ObjectIdentifier(f"1.3.6.1.4.1.55555.2.{n}"), b"\x05\x00"),
        True,
    )
    for n in range(1000)
)


@pytest.mark.parametrize(
    ("crl", "reason", "detail"),
    [
        pytest.param({}, FailureReason.CERTIFICATE_REVOKED, "smp1", id="plain-crl-listing-smp1"),
        pytest.param(
            {"extensions": ((x509.UnrecognizedExtension(PRIVATE, b"\x05\x00"), False),)},
            FailureReason.CERTIFICATE_REVOKED, "smp1", id="unknown-non-critical-is-ignored",
        ),
        pytest.param(
            {"extensions": (UNKNOWN_CRITICAL,)}, FailureReason.CRL_UNUSABLE,
            "critical extension 1.3.6.1.4.1.55555.1", id="unknown-critical-crl-extension",
        ),
        pytest.param(
            {"extensions": THOUSAND_CRITICAL}, FailureReason.CRL_UNUSABLE,
            "critical extension", id="a-thousand-critical-extensions",
        ),
        pytest.param(
            {"entry_extensions": (UNKNOWN_CRITICAL,)}, FailureReason.CRL_UNUSABLE,
            "has critical extension", id="unknown-critical-entry-extension",
        ),
        pytest.param(
            {"extensions": ((x509.DeltaCRLIndicator(2), True),)}, FailureReason.CRL_UNUSABLE,
            "delta CRL (base CRL number 2)", id="delta-crl-without-base",
        ),
        pytest.param(
            {"extensions": (scope(only_contains_ca_certs=True),)},
            FailureReason.CRL_NOT_AUTHORITATIVE, "smp1.edelivery.test (the CRL covers CA",
            id="idp-only-ca-certificates",
        ),
        pytest.param(
            {"extensions": (scope(indirect_crl=True),)}, FailureReason.CRL_UNUSABLE,
            "indirect CRL", id="idp-indirect",
        ),
        pytest.param(
            {"extensions": (scope(only_contains_attribute_certs=True),)},
            FailureReason.CRL_UNUSABLE, "attribute certificates", id="idp-attribute-only",
        ),
        pytest.param(
            {"extensions": (scope(
                full_name=[x509.UniformResourceIdentifier("http://elsewhere.test/x.crl")]
            ),)},
            FailureReason.CRL_NOT_AUTHORITATIVE, "issuing distribution point is not one",
            id="idp-another-distribution-point",
        ),
        pytest.param(
            {"listed": (), "extensions": (
                scope(only_some_reasons=frozenset({x509.ReasonFlags.key_compromise})),
            )},
            FailureReason.CRL_NOT_AUTHORITATIVE, "only some reasons (keyCompromise)",
            id="idp-some-reasons-not-listed-is-not-good",
        ),
        pytest.param(
            {"extensions": (
                scope(only_some_reasons=frozenset({x509.ReasonFlags.key_compromise})),
            )},
            FailureReason.CERTIFICATE_REVOKED, "smp1", id="idp-some-reasons-listed-is-revoked",
        ),
        pytest.param(
            {"extensions": (scope(only_contains_user_certs=True),)},
            FailureReason.CERTIFICATE_REVOKED, "smp1", id="idp-only-user-certificates",
        ),
    ],
)  # fmt: skip
def test_rfc5280_refusals(
    pki: LabPki, crl: dict[str, Any], reason: FailureReason, detail: str
) -> None:
    result = verdict(build(pki, **crl), pki)
    assert result.reason is reason
    assert detail in result.detail


def test_a_crl_of_another_configured_ca_names_the_certificates_it_cannot_speak_for(
    pki: LabPki,
) -> None:
    # The root's CRL, with smp1 (issued by the intermediate) monitored: never a silent ok,
    # and never revoked even though the root's CRL happens to list smp1's serial.
    result = verdict(build(pki, ca="root"), pki)
    assert result.reason is FailureReason.CRL_NOT_AUTHORITATIVE
    assert "smp1.edelivery.test (issued by CN=vigie lab issuing CA" in result.detail
    assert "ap1.edelivery.test" in result.detail


def test_a_ca_certificate_on_a_user_only_crl_is_not_covered(pki: LabPki) -> None:
    der = build(pki, ca="root", listed=("intermediate",),
                extensions=(scope(only_contains_user_certs=True),))  # fmt: skip
    result = verdict(der, pki, monitored=(pki.intermediate.cert,))
    assert result.reason is FailureReason.CRL_NOT_AUTHORITATIVE
    assert "end-entity certificates only" in result.detail


def test_a_signer_without_crl_sign_is_not_accepted(pki: LabPki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no cRLSign CA")])
    usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(pki.root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(pki.root.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    result = verdict(build(pki, listed=(), signer=(name, key)), pki, issuers=(ca,))
    assert result.reason is FailureReason.CRL_UNUSABLE
    assert "lacks cRLSign" in result.detail


def test_a_pem_file_may_hold_several_crls(pki: LabPki) -> None:
    pems = [
        parse_crl(build(pki, ca=ca)).public_bytes(serialization.Encoding.PEM)
        for ca in ("root", "intermediate")
    ]
    crls = parse_crls(b"a comment\n" + b"".join(pems))
    assert [crl.issuer.rfc4514_string() for crl in crls] == [
        "CN=vigie lab root CA,O=vigie lab",
        "CN=vigie lab issuing CA,O=vigie lab",
    ]


async def test_at_judges_freshness_at_that_instant(pki: LabPki) -> None:
    crl = parse_crl(build(pki, listed=()))
    cache = CrlCache()
    url = "http://127.0.0.1:9/crl/intermediate.crl"

    async def served() -> FetchedCrl:  # what the distribution point would have answered
        return FetchedCrl(FailureReason.OK, crl=crl, fetched_at=0.0)

    await cache.get(url, 900.0, 0.0, served)
    for at, expected in (
        (NOW, FailureReason.OK),
        (NOW + timedelta(days=2), FailureReason.CRL_STALE),
    ):
        params = CrlParams(url, (pki.intermediate.cert,), (), 3600.0, 900.0, 2**20, at=at)
        env = ProbeEnv(crl_cache=cache, monotonic=lambda: 1.0)
        result = await probe_crl(Check("crl", "pki", url, params, 60.0, 5.0), env)
        assert result.reason is expected, result.detail


@pytest.mark.parametrize("trusted", [True, False], ids=["signer-chains", "signer-does-not"])
async def test_trust_anchors_validate_the_crl_signers_own_path(pki: LabPki, trusted: bool) -> None:
    crl = parse_crl(build(pki, listed=()))
    cache = CrlCache()
    url = "http://127.0.0.1:9/crl/intermediate.crl"

    async def served() -> FetchedCrl:
        return FetchedCrl(FailureReason.OK, crl=crl, fetched_at=0.0)

    await cache.get(url, 900.0, 0.0, served)
    stranger = LabPki.generate("http://127.0.0.1:9", now=NOW).root.cert
    anchors = (pki.root.cert,) if trusted else (stranger,)
    issuers = (pki.intermediate.cert, pki.root.cert)
    params = CrlParams(url, issuers, (), 3600.0, 900.0, 2**20, anchors=anchors, at=NOW)
    env = ProbeEnv(crl_cache=cache, monotonic=lambda: 1.0)
    result = await probe_crl(Check("crl", "pki", url, params, 60.0, 5.0), env)
    if trusted:
        assert result.reason is FailureReason.OK, result.detail
    else:
        assert result.reason is FailureReason.CRL_UNUSABLE
        assert "the CRL's signer CN=vigie lab issuing CA" in result.detail
