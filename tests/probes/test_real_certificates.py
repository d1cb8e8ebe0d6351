"""Real Peppol and eDelivery certificates judged by vigie and cross-checked with openssl.

Two sources, both public text (origins in real_certificates/README.md):
- the G3 CAs OpenPeppol introduced in 2025 (production and TEST) and one G2 test Access
  Point certificate, kept as PEM files in tests/probes/real_certificates/;
- every certificate an SMP document of tests/probes/real_smp_documents/ carries (an
  endpoint's `Certificate`, a signer's `X509Certificate`), decoded from the document's
  base64 here, at run time: Access Point and SMP certificates of the 2010 and G2 PKIs (no
  subjectAltName, `C/O/OU/CN` subjects) and three eDelivery certificates of DomiSMP.

No CA of the 2010 or G2 PKI is kept, so no leaf's path is judged here: each G3 CA is
judged against its root and against the other PKI's, and what vigie shows of every
certificate (subject, issuer, serial, notAfter) must read as `openssl x509 -nameopt
RFC2253` prints it. How the webpki profile treats a certificate without subjectAltName
(what Access Point and SMP certificates are) is judged on the lab's SMP signing
certificate, which has none either.

openssl's flags, chosen to ask the question vigie answers:
- `-attime`: the same instant vigie judges at.
- `-CAfile` holds only what vigie is given as `trust_anchors`, `-untrusted` what it is given
  as `intermediates`: openssl must build the path from the same material.
- No `-purpose`, no `-x509_strict`, no `-auth_level`: openssl then judges neither key
  usage nor algorithm strength on the path, as vigie's path verdict does not (vigie
  reports weak keys and signatures as `weak_key`/`weak_signature`, asserted separately).
"""

from __future__ import annotations

import asyncio
import base64
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import Store
from lxml import etree

from probes import CheckDefaults, FailureReason, ProbeEnv, ProbeResult
from probes.cert_checks import CertificatePolicy, assess_chain
from probes.cert_path import PathOptions, Profile, judge_path
from probes.certs import CertificateFacts, read_certificates
from probes.x509 import CertificateTarget, expand_certificates, probe_x509
from vigie.lab.pki import LabPki

R = FailureReason
HERE = Path(__file__).parent / "real_certificates"
DOCUMENTS = Path(__file__).parent / "real_smp_documents"
G3_ROOT = "peppol-g3/PEPPOL_Root_CA-G3.pem"
# openssl verify's error numbers (X509_V_ERR_*) as the reason vigie gives for the same fault.
OPENSSL_ERRORS = {
    2: R.CHAIN_UNTRUSTED,  # unable to get issuer certificate
    7: R.CHAIN_UNTRUSTED,  # certificate signature failure
    9: R.CERT_NOT_YET_VALID,
    10: R.CERT_EXPIRED,
    20: R.CHAIN_UNTRUSTED,  # unable to get local issuer certificate
}


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def embedded_certificates(document: Path) -> list[x509.Certificate]:
    """The certificates an SMP document carries, in document order, each once.

    The base64 may be wrapped, indented or hold `&#13;` (a carriage return once parsed):
    whitespace is not base64, so it is dropped before decoding."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(document.read_bytes(), parser)
    found: dict[bytes, x509.Certificate] = {}
    for element in root.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname in {
            "Certificate",
            "X509Certificate",
        }:
            der = base64.b64decode("".join((element.text or "").split()), validate=True)
            found.setdefault(der, x509.load_der_x509_certificate(der))
    return list(found.values())


def common_name(certificate: x509.Certificate) -> str:
    (attribute,) = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attribute.value)


# Every certificate of every document, named `document#index-CN` for the test ids.
EMBEDDED = {
    f"{document.stem}#{index}-{common_name(certificate)}": certificate
    for document in sorted(DOCUMENTS.glob("*.xml"))
    for index, certificate in enumerate(embedded_certificates(document))
}


def embedded(document: str, cn: str) -> x509.Certificate:
    """The certificate with common name `cn` that `document` carries."""
    (certificate,) = [
        c for c in embedded_certificates(DOCUMENTS / document) if common_name(c) == cn
    ]
    return certificate


HARMONY = "harmony-smp-domismp-bdxr10-two-signatures.xml"
THREE_TRANSPORTS = "vefa-peppol-difi-smp-0192-991825827-three-transports.xml"


def pem_file(certificates: list[x509.Certificate], path: Path) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certificates))
    return path


def openssl_verify(
    leaf: Path, anchors: Path, untrusted: Path | None, at: datetime
) -> frozenset[FailureReason]:
    """The reasons `openssl verify` gives, each as vigie names it (empty: it verified)."""
    command = ["openssl", "verify", "-attime", str(int(at.timestamp())), "-CAfile", str(anchors)]
    command += ["-untrusted", str(untrusted)] * bool(untrusted)
    done = subprocess.run([*command, str(leaf)], capture_output=True, text=True, timeout=30)
    output = done.stdout + done.stderr
    codes = {int(code) for code in re.findall(r"error (\d+) at \d+ depth lookup", output)}
    if done.returncode == 0:
        assert not codes, output
        assert output.rstrip().endswith(": OK"), output
        return frozenset()
    assert codes, output
    assert codes <= set(OPENSSL_ERRORS), output
    return frozenset(OPENSSL_ERRORS[code] for code in codes)


async def judge(target: CertificateTarget) -> ProbeResult:
    (check,) = expand_certificates(target, CheckDefaults(timeout=20.0))
    return await probe_x509(check, ProbeEnv(wall_clock=lambda: 0.0))


def problems(result: ProbeResult) -> frozenset[FailureReason]:
    """What the result's `probe_x509_problem{reason}` series say is wrong."""
    return frozenset(
        R(s.labels["reason"]) for s in result.series if s.name == "problem" and s.value
    )


# Each G3 issuing CA against its root, judged as the leaf of a file.
G3_TEST_ROOT = "peppol-g3/PEPPOL_Root_TEST_CA-G3.pem"
CA_PAIRS = [
    ("peppol-g3/PEPPOL_ACCESS_POINT_CA-G3.pem", G3_ROOT),
    ("peppol-g3/PEPPOL_SERVICE_METADATA_PUBLISHER_CA-G3.pem", G3_ROOT),
    ("peppol-g3/PEPPOL_ACCESS_POINT_TEST_CA-G3.pem", G3_TEST_ROOT),
    ("peppol-g3/PEPPOL_SERVICE_METADATA_PUBLISHER_TEST_CA-G3.pem", G3_TEST_ROOT),
]


@pytest.mark.parametrize(("ca", "root"), CA_PAIRS, ids=[Path(ca).stem for ca, _ in CA_PAIRS])
async def test_each_issuing_ca_chains_to_its_root_as_openssl_says(
    ca: str, root: str, tmp_path: Path
) -> None:
    (ca_cert,), (root_cert,) = read_certificates(HERE / ca), read_certificates(HERE / root)
    at = day("2026-12-01")
    verdict = await judge_path(
        ca_cert, [], [root_cert], at=at, options=PathOptions(profile=Profile.RFC5280)
    )
    assert verdict.reason is R.OK, verdict.detail
    assert verdict.path == (ca_cert, root_cert)
    ca_pem = pem_file([ca_cert], tmp_path / "ca.pem")
    assert openssl_verify(ca_pem, pem_file([root_cert], tmp_path / "root.pem"), None, at) == set()
    # No path from a production CA to the TEST root, nor from a TEST CA to production's.
    other = G3_TEST_ROOT if root == G3_ROOT else G3_ROOT
    (other_root,) = read_certificates(HERE / other)
    crossed = await judge_path(
        ca_cert, [], [other_root], at=at, options=PathOptions(profile=Profile.RFC5280)
    )
    assert crossed.reason is R.CHAIN_UNTRUSTED, crossed.detail
    other_pem = pem_file([other_root], tmp_path / "other.pem")
    assert openssl_verify(ca_pem, other_pem, None, at) == {R.CHAIN_UNTRUSTED}


@pytest.mark.parametrize(
    ("when", "reason", "detail"),
    [
        pytest.param(
            "2026-12-01", R.OK,
            "PEPPOL ACCESS POINT CA - G3 expires in 2965 days; 6 certificate(s)", id="g3",
        ),
        pytest.param(
            "2024-12-01", R.CERT_NOT_YET_VALID,
            "PEPPOL ACCESS POINT CA - G3 is valid from 2025-01-14 18:04Z", id="g3-before-its-time",
        ),
    ],
)  # fmt: skip
async def test_the_g3_generation_is_judged_on_its_algorithms_and_windows(
    when: str, reason: FailureReason, detail: str
) -> None:
    """The G3 CAs are RSA-SHA256 with 4096-bit keys, never weak."""
    result = await judge(
        CertificateTarget(file=str(HERE / "peppol-g3"), trust_anchors=str(HERE / G3_ROOT), at=when)
    )
    assert (result.reason, result.detail) == (reason, detail)
    assert not problems(result) & {R.WEAK_KEY, R.WEAK_SIGNATURE}


def openssl_fields(path: Path) -> dict[str, str]:
    done = subprocess.run(
        ["openssl", "x509", "-in", str(path), "-noout", "-nameopt", "RFC2253",
         "-subject", "-issuer", "-serial", "-enddate"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return dict(line.split("=", 1) for line in done.stdout.splitlines())


def assert_shown_as_openssl_prints(certificate: x509.Certificate, pem: Path) -> None:
    facts = CertificateFacts.of(certificate)
    fields = openssl_fields(pem)
    assert (facts.subject, facts.issuer, facts.serial) == (
        fields["subject"],
        fields["issuer"],
        fields["serial"],
    )
    not_after = datetime.strptime(fields["notAfter"], "%b %d %H:%M:%S %Y GMT")
    assert facts.not_after == not_after.replace(tzinfo=UTC)


EVERY_FILE = sorted(p.relative_to(HERE) for p in HERE.rglob("*.pem"))


@pytest.mark.parametrize("file", EVERY_FILE, ids=str)
def test_what_vigie_shows_of_a_certificate_file_is_what_openssl_prints(file: Path) -> None:
    """Subject and issuer as `openssl x509 -nameopt RFC2253` writes them, the serial as
    `-serial`, notAfter."""
    (certificate,) = read_certificates(HERE / file)
    assert_shown_as_openssl_prints(certificate, HERE / file)


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_what_vigie_shows_of_a_certificate_in_an_smp_document_is_what_openssl_prints(
    name: str, tmp_path: Path
) -> None:
    """The same for every certificate the SMP documents carry (serialNumber, title and GN
    by name, not as dotted OIDs; a serial's leading zero kept)."""
    certificate = EMBEDDED[name]
    assert_shown_as_openssl_prints(certificate, pem_file([certificate], tmp_path / "c.pem"))


def test_the_edelivery_subject_with_serial_number_is_named_by_openssl_names() -> None:
    certificate = embedded(HARMONY, "qaepsos.min-saude.pt")
    assert CertificateFacts.of(certificate).subject == (
        "title=Service Provider,CN=qaepsos.min-saude.pt,serialNumber=Cunha,GN=Joao,"
        "OU=SPMS,O=MoH,C=PT"
    )


def test_a_serial_keeps_the_leading_zero_openssl_prints() -> None:
    """TietoEVRY's Access Point certificate: its serial's first byte is 0x09."""
    certificate = embedded(THREE_TRANSPORTS, "PNO000051")
    assert CertificateFacts.of(certificate).serial == "097969D3FFF9C63DE7FA18CFD66A58F3"


@pytest.mark.parametrize("cn", ["SMP Mock Services", "Sample National Infrastructure"])
async def test_a_self_signed_edelivery_smp_key_is_weak_on_a_sound_path(
    cn: str, tmp_path: Path
) -> None:
    """DomiSMP's test signing certificates: self-signed RSA 1024, trusted as themselves."""
    path, at = pem_file([embedded(HARMONY, cn)], tmp_path / "signer.pem"), day("2020-01-01")
    result = await judge(
        CertificateTarget(file=str(path), trust_anchors=str(path), at=at.isoformat()[:19])
    )
    assert problems(result) == {R.WEAK_KEY}
    assert result.detail.endswith(": RSA 1024 bits (< 2048)")
    assert openssl_verify(path, path, None, at) == frozenset()


# -- the webpki profile on a certificate without subjectAltName ----------------------------

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def lab() -> LabPki:
    return LabPki.generate("http://127.0.0.1:9", now=NOW)


@pytest.fixture
def lab_files(lab: LabPki, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The lab's SMP signing certificate (no subjectAltName, as a Peppol Access Point's or
    SMP's), its issuing CA and its root, each a PEM file."""
    return (
        pem_file([lab.signing.cert], tmp_path / "signing.pem"),
        pem_file([lab.intermediate.cert], tmp_path / "intermediate.pem"),
        pem_file([lab.root.cert], tmp_path / "root.pem"),
    )


def test_a_certificate_without_san_presented_by_a_tls_server_fails_webpki(lab: LabPki) -> None:
    """What a `url` target (profile webpki, the default) says of a server presenting an
    Access Point certificate: the README's "subjectAltName required"."""
    leaf, ca, root = lab.signing.cert, lab.intermediate.cert, lab.root.cert
    assessment = assess_chain(
        [leaf, ca], trust=Store([root]), hostname="ap.example.org", now=NOW,
        policy=CertificatePolicy(),
    )  # fmt: skip
    assert [f.reason for f in assessment.findings] == [R.CHAIN_UNTRUSTED, R.HOSTNAME_MISMATCH]
    assert assessment.findings[0].detail.startswith(
        "vigie lab SMP signing does not validate against the trust anchors: missing required "
        "extension: leaf server certificate has no subjectAltName"
    ), assessment.findings[0].detail
    assert assessment.findings[1].detail == "ap.example.org not in the leaf's (no subjectAltName)"
    verdict = asyncio.run(
        judge_path(leaf, [ca], [root], at=NOW,
                   options=PathOptions(profile=Profile.WEBPKI, hostname="ap.example.org"))
    )  # fmt: skip
    assert verdict.reason is R.CHAIN_UNTRUSTED
    assert "no subjectAltName" in verdict.detail


@pytest.mark.parametrize("profile", ["rfc5280", "webpki"])
async def test_a_signing_certificate_file_is_ok_under_either_profile(
    profile: str, lab_files: tuple[Path, Path, Path]
) -> None:
    """A file's leaf is judged as a signing certificate, which needs no subjectAltName;
    with webpki the configured intermediates build its path too (they were ignored)."""
    leaf, ca, root = lab_files
    result = await judge(
        CertificateTarget(
            file=str(leaf), trust_anchors=str(root), intermediates=str(ca),
            at=NOW.isoformat()[:19], profile=profile,
        )
    )  # fmt: skip
    assert result.reason is R.OK, result.detail
    assert openssl_verify(leaf, root, ca, NOW) == frozenset()
    without = await judge(
        CertificateTarget(
            file=str(leaf), trust_anchors=str(root), at=NOW.isoformat()[:19], profile=profile
        )
    )
    assert without.reason is R.CHAIN_UNTRUSTED, without.detail


# -- the command line ------------------------------------------------------------------


async def test_vigie_probe_cert_on_a_signing_certificate_and_its_intermediate(
    lab: LabPki, lab_files: tuple[Path, Path, Path]
) -> None:
    leaf, ca, root = lab_files
    arguments = ["--file", str(leaf), "--trust-anchors", str(root), "--intermediates", str(ca)]
    not_after = lab.signing.cert.not_valid_after_utc
    after = not_after + timedelta(days=10)
    for at, code, verdict in (
        (NOW, 0, f"ok (vigie lab SMP signing expires in {(not_after - NOW).days} days; "),
        (after, 1, "cert_expired (vigie lab SMP signing expired 10 days ago)"),
    ):
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "vigie", "probe", "cert", *arguments),
            *("--at", at.isoformat()[:19]),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        text = out.decode()
        assert (process.returncode, err.decode()) == (code, ""), text
        assert f"x509 {leaf}: {verdict}" in text.splitlines()[0], text
        facts = CertificateFacts.of(lab.signing.cert)
        assert f"- subject {facts.subject}, issuer {facts.issuer}, serial {facts.serial}" in text
