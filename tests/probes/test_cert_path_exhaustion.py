"""Paths built to exhaust or trip the RFC 5280 validator, and the rules it must keep: each
is a verdict, never an exception or a hang (`probes.cert_path`).

- many intermediates sharing one name (the validator would try every order of them);
- thousands of names against thousands of name constraints (compared in pure Python);
- a name constraint the validator cannot check (iPAddress): fails closed;
- a name of thousands of attributes;
- a trust anchor's own name constraints (RFC 5937), and validity within one second;
- an extension present twice, read by the hostname check as absent.

Every certificate is made here with cryptography (asn1crypto where cryptography refuses).
"""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from probes import FailureReason
from probes.cert_checks import hostname_matches
from probes.cert_path import PathOptions, PathVerdict, Profile, judge_path

NOW = datetime.now(UTC).replace(microsecond=0)
RFC5280 = PathOptions(profile=Profile.RFC5280)
# A hang guard, not a speed target: each of these ends in well under a second.
GUARD_SECONDS = 60


class Issued:
    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert, self.key = cert, key


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(
    subject: x509.Name,
    issuer: Issued | None,
    *,
    ca: bool,
    issuer_name: x509.Name | None = None,
    extensions: tuple[x509.ExtensionType, ...] = (),
    not_after: datetime | None = None,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or (issuer.cert.subject if issuer else subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(not_after or NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    signing_key = issuer.key if issuer else key
    return Issued(builder.sign(signing_key, hashes.SHA256()), key)


def dns_names(*names: str) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName([x509.DNSName(name) for name in names])


async def judge(
    leaf: Issued, intermediates: list[Issued], anchors: list[Issued], at: datetime = NOW
) -> PathVerdict:
    return await asyncio.wait_for(
        judge_path(
            leaf.cert,
            [issued.cert for issued in intermediates],
            [issued.cert for issued in anchors],
            at=at,
            options=RFC5280,
        ),
        timeout=GUARD_SECONDS,
    )


async def test_many_intermediates_of_one_name_are_sorted_out_by_signature() -> None:
    """100 intermediates named alike, each naming itself as issuer, beside the one the
    root really signed: names alone allow more orders of them than could ever be tried."""
    root = issue(_name("Root"), None, ca=True)
    real = issue(_name("Intermediate"), root, ca=True)
    impostors = [
        issue(_name("Intermediate"), None, ca=True, issuer_name=_name("Intermediate"))
        for _ in range(100)
    ]
    leaf = issue(_name("leaf"), real, ca=False)
    verdict = await judge(leaf, [*impostors[:50], real, *impostors[50:]], [root])
    assert verdict.reason is FailureReason.OK, verdict.detail
    assert [cert.subject for cert in verdict.path] == [
        leaf.cert.subject,
        real.cert.subject,
        root.cert.subject,
    ]
    # Without the real one, no path: refused or untrusted, at once.
    verdict = await judge(leaf, impostors, [root])
    assert verdict.reason is FailureReason.CHAIN_UNTRUSTED


async def test_thousands_of_names_against_thousands_of_constraints_are_refused() -> None:
    subtrees = [x509.DNSName(f"permitted{k}.test") for k in range(300)]
    constraints = x509.NameConstraints(permitted_subtrees=subtrees, excluded_subtrees=None)
    root = issue(_name("Root"), None, ca=True, extensions=(constraints,))
    names = dns_names(*(f"host{k}.permitted{k}.test" for k in range(300)))
    leaf = issue(_name("leaf"), root, ca=False, extensions=(names,))
    verdict = await judge(leaf, [], [root])
    assert verdict.reason is FailureReason.CHAIN_UNTRUSTED
    assert "refused" in verdict.detail


async def test_a_name_constraint_the_validator_cannot_check_fails_closed() -> None:
    network = x509.IPAddress(ipaddress.ip_network("192.0.2.0/24"))
    constraints = x509.NameConstraints(permitted_subtrees=[network], excluded_subtrees=None)
    root = issue(_name("Root"), None, ca=True)
    ca = issue(_name("Constrained CA"), root, ca=True, extensions=(constraints,))
    address = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("192.0.2.7"))])
    leaf = issue(_name("leaf"), ca, ca=False, extensions=(address,))
    verdict = await judge(leaf, [ca], [root])
    assert verdict.reason is FailureReason.CHAIN_UNTRUSTED, verdict.detail


async def test_a_name_of_thousands_of_attributes_is_a_verdict() -> None:
    root = issue(_name("Root"), None, ca=True)
    unit = NameOID.ORGANIZATIONAL_UNIT_NAME
    deep = x509.Name(
        [x509.RelativeDistinguishedName([x509.NameAttribute(unit, f"u{k}")]) for k in range(4000)]
    )
    leaf = issue(deep, root, ca=False)
    verdict = await judge(leaf, [], [root])
    assert verdict.reason in {FailureReason.OK, FailureReason.CERT_MALFORMED}, verdict.detail


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        pytest.param("smp.good.test", FailureReason.OK, id="inside"),
        pytest.param("smp.evil.test", FailureReason.CHAIN_UNTRUSTED, id="outside"),
    ],
)
async def test_an_anchors_own_name_constraints_bind_its_paths(
    name: str, reason: FailureReason
) -> None:
    """RFC 5937: a CA restricted to some names stays restricted when configured as the
    trust anchor (an issuing CA given alone, as the README advises for SMP metadata)."""
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName("good.test")], excluded_subtrees=None
    )
    anchor = issue(_name("Issuing CA"), None, ca=True, extensions=(constraints,))
    leaf = issue(_name("leaf"), anchor, ca=False, extensions=(dns_names(name),))
    verdict = await judge(leaf, [], [anchor])
    assert verdict.reason is reason, verdict.detail


async def test_validity_is_judged_within_one_second() -> None:
    """The validator's tolerance (one second) also keeps a fresh OCSP answer stamped a
    moment after the instant asked usable; validity is judged within it, no wider."""
    root = issue(_name("Root"), None, ca=True)
    end = NOW + timedelta(days=2)
    leaf = issue(_name("leaf"), root, ca=False, not_after=end)
    assert (await judge(leaf, [], [root], at=end + timedelta(seconds=1))).ok
    after = await judge(leaf, [], [root], at=end + timedelta(seconds=2))
    assert not after.ok


def _with_two_alt_names(issued: Issued) -> x509.Certificate:
    """`issued`'s certificate re-signed with its subjectAltName extension twice
    (cryptography refuses to build one, so asn1crypto does)."""
    from asn1crypto import x509 as asn1_x509

    der = issued.cert.public_bytes(serialization.Encoding.DER)
    original = asn1_x509.Certificate.load(der)
    tbs = original["tbs_certificate"].copy()
    extensions = list(tbs["extensions"])
    alt = next(e for e in extensions if e["extn_id"].native == "subject_alt_name")
    tbs["extensions"] = asn1_x509.Extensions([*extensions, alt.copy()])
    signature = issued.key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
    rebuilt = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": original["signature_algorithm"],
            "signature_value": signature,
        }
    )
    return x509.load_der_x509_certificate(rebuilt.dump())


def test_an_extension_present_twice_reads_as_absent() -> None:
    key_holder = issue(_name("self"), None, ca=False, extensions=(dns_names("smp.test"),))
    cert = _with_two_alt_names(key_holder)
    with pytest.raises(x509.DuplicateExtension):
        cert.extensions  # noqa: B018 - what the checks must not let escape
    assert hostname_matches(cert, "smp.test") is False
