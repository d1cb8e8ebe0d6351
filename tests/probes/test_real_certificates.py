"""Real Peppol and eDelivery certificates judged by vigie and cross-checked with openssl.

The certificates (tests/probes/real_certificates/, origins in its README) come from the
public PKIs vigie watches: OpenPeppol's CAs of 2010, G2 (2018) and G3 (2025), Access Point
and SMP certificates those CAs issued (no subjectAltName, `C/O/OU/CN` subjects) and three
eDelivery certificates published by DomiSMP. Each leaf is judged as of a fixed instant
inside its validity and as of the day after its notAfter, with profile rfc5280 against its
real CA chain, and `openssl verify` must reach the same path verdict.

openssl's flags, chosen to ask the question vigie answers:
- `-attime`: the same instant vigie judges at.
- `-CAfile` holds only what vigie is given as `trust_anchors`, `-untrusted` what it is given
  as `intermediates`: openssl must build the path from the same material.
- `-partial_chain` only where the anchors hold an issuing CA and not its root: vigie (as
  pyhanko-certvalidator and cryptography do) trusts every configured anchor, self-signed
  or not, which is what `-partial_chain` asks of openssl. Without it openssl insists on a
  self-signed root; that case is the one asserted divergence below.
- No `-purpose`, no `-x509_strict`, no `-auth_level`: openssl then judges neither key
  usage nor algorithm strength on the path, as vigie's path verdict does not (vigie
  reports weak keys and signatures as `weak_key`/`weak_signature`, asserted separately).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import Store

from probes import CheckDefaults, FailureReason, ProbeEnv, ProbeResult
from probes.cert_checks import CertificatePolicy, assess_chain
from probes.cert_path import PathOptions, Profile, judge_path
from probes.certs import CertificateFacts, read_certificates
from probes.x509 import CertificateTarget, expand_certificates, probe_x509

R = FailureReason
HERE = Path(__file__).parent / "real_certificates"
LEAVES = HERE / "leaves"

# (anchor, issuing CA) of each family of leaves, named by the leaves' file-name prefix.
CHAINS = {
    "2010-ap": ("peppol-2010/peppol-root-ca.pem", "peppol-2010/peppol-access-point-ca.pem"),
    "2010-smp": (
        "peppol-2010/peppol-root-ca.pem",
        "peppol-2010/peppol-service-metadata-publisher-ca.pem",
    ),
    "g2-ap": ("peppol-g2/Peppol_Root_CA.cer", "peppol-g2/Peppol_AccessPoint_CA.cer"),
    "g2-smp": ("peppol-g2/Peppol_Root_CA.cer", "peppol-g2/Peppol_ServiceMetadataPublisher_CA.cer"),
    "g2-test-ap": ("peppol-g2/Peppol_Test_Root_CA.cer", "peppol-g2/Peppol_Test_AccessPoint_CA.cer"),
    "g2-test-smp": (
        "peppol-g2/Peppol_Test_Root_CA.cer",
        "peppol-g2/Peppol_Test_ServiceMetadataPublisher_CA.cer",
    ),
    "g3-ap": ("peppol-g3/PEPPOL_Root_CA-G3.pem", "peppol-g3/PEPPOL_ACCESS_POINT_CA-G3.pem"),
}


@dataclass(frozen=True)
class Leaf:
    file: str
    chain: str  # a CHAINS key
    inside: datetime  # an instant inside the leaf's validity
    cn: str

    @property
    def certificate(self) -> x509.Certificate:
        (certificate,) = read_certificates(LEAVES / self.file)
        return certificate


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


PEPPOL_LEAVES = [
    Leaf("2010-ap-APP_1000000021-itella.pem", "2010-ap", day("2014-10-01"), "APP_1000000021"),
    Leaf("2010-ap-APP_1000000025-evry.pem", "2010-ap", day("2014-10-01"), "APP_1000000025"),
    Leaf("2010-ap-APP_1000000088-piraeus.pem", "2010-ap", day("2015-11-01"), "APP_1000000088"),
    Leaf("2010-smp-SMP_2000000005-difi.pem", "2010-smp", day("2014-04-01"), "SMP_2000000005"),
    Leaf("2010-smp-SMP_2000000088-piraeus.pem", "2010-smp", day("2015-11-01"), "SMP_2000000088"),
    Leaf("2010-smp-SMP_2000000105-difi.pem", "2010-smp", day("2016-04-01"), "SMP_2000000105"),
    Leaf("g2-ap-PNL000052-econnect.pem", "g2-ap", day("2019-08-01"), "PNL000052"),
    Leaf("g2-ap-PNO000051-tietoevry.pem", "g2-ap", day("2021-07-01"), "PNO000051"),
    Leaf("g2-ap-PNO000070-netedi.pem", "g2-ap", day("2019-08-01"), "PNO000070"),
    Leaf("g2-smp-PNL000052-econnect.pem", "g2-smp", day("2019-08-01"), "PNL000052"),
    Leaf("g2-smp-PNO000070-netedi.pem", "g2-smp", day("2020-03-01"), "PNO000070"),
    Leaf("g2-smp-PNO000179-digdir.pem", "g2-smp", day("2021-11-01"), "PNO000179"),
    Leaf("g2-test-ap-PDK000270-brz.pem", "g2-test-ap", day("2022-01-01"), "PDK000270"),
    Leaf("g2-test-ap-PNO000063-visma.pem", "g2-test-ap", day("2021-08-01"), "PNO000063"),
    Leaf("g2-test-ap-POP000010-basware.pem", "g2-test-ap", day("2023-07-01"), "POP000010"),
    Leaf("g2-test-ap-PP_C3-2021-openpeppol.pem", "g2-test-ap", day("2022-03-01"), "PP_C3"),
    Leaf("g2-test-ap-PP_C3-2022-peppol-commons.pem", "g2-test-ap", day("2023-05-01"), "PP_C3"),
    Leaf("g2-test-smp-PNO000179-digdir.pem", "g2-test-smp", day("2021-11-01"), "PNO000179"),
    Leaf("g2-test-smp-POP000010-basware.pem", "g2-test-smp", day("2022-09-01"), "POP000010"),
]
PATH_REASONS = frozenset({R.CHAIN_UNTRUSTED, R.CERT_EXPIRED, R.CERT_NOT_YET_VALID})
# openssl verify's error numbers (X509_V_ERR_*) as the reason vigie gives for the same fault.
OPENSSL_ERRORS = {
    2: R.CHAIN_UNTRUSTED,  # unable to get issuer certificate
    7: R.CHAIN_UNTRUSTED,  # certificate signature failure
    9: R.CERT_NOT_YET_VALID,
    10: R.CERT_EXPIRED,
    20: R.CHAIN_UNTRUSTED,  # unable to get local issuer certificate
}


def pem_file(certificates: list[x509.Certificate], path: Path) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certificates))
    return path


def openssl_verify(
    leaf: Path, anchors: Path, untrusted: Path | None, at: datetime, *, partial: bool = False
) -> frozenset[FailureReason]:
    """The reasons `openssl verify` gives, each as vigie names it (empty: it verified)."""
    command = ["openssl", "verify", "-attime", str(int(at.timestamp())), "-CAfile", str(anchors)]
    command += ["-partial_chain"] * partial + ["-untrusted", str(untrusted)] * bool(untrusted)
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


@pytest.fixture(scope="module")
def ca_pems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Each chain's anchor and issuing CA as PEM, the form `openssl verify -CAfile` reads."""
    directory = tmp_path_factory.mktemp("chains")
    out = {}
    for name, (anchor, ca) in CHAINS.items():
        out[name] = (
            pem_file(read_certificates(HERE / anchor), directory / f"{name}-anchor.pem"),
            pem_file(read_certificates(HERE / ca), directory / f"{name}-ca.pem"),
        )
    return out


@pytest.mark.parametrize("leaf", PEPPOL_LEAVES, ids=lambda leaf: leaf.file.removesuffix(".pem"))
async def test_each_leaf_inside_and_after_its_validity_as_openssl_judges_it(
    leaf: Leaf, ca_pems: dict[str, tuple[Path, Path]]
) -> None:
    anchor, ca = CHAINS[leaf.chain]
    after = leaf.certificate.not_valid_after_utc + timedelta(days=1)
    for at, expected in ((leaf.inside, frozenset()), (after, frozenset({R.CERT_EXPIRED}))):
        target = CertificateTarget(
            file=str(LEAVES / leaf.file),
            trust_anchors=str(HERE / anchor),
            intermediates=str(HERE / ca),
            at=at.replace(tzinfo=None).isoformat(),
        )
        assert target.path_profile() is Profile.RFC5280
        result = await judge(target)
        found = problems(result) & PATH_REASONS
        assert found == expected, result.detail
        assert openssl_verify(LEAVES / leaf.file, *ca_pems[leaf.chain], at) == found
        assert result.detail.startswith(leaf.cn), result.detail
        if not expected:
            days = (leaf.certificate.not_valid_after_utc - at).days
            assert result.detail == f"{leaf.cn} expires in {days} days; 1 certificate(s)"


# A leaf against anchors of another PKI: both must refuse the path.
WRONG_ANCHORS = [
    ("g2-ap-PNO000051-tietoevry.pem", "g2-test-ap", day("2021-07-01")),  # production vs test
    ("g2-test-ap-PNO000063-visma.pem", "g2-ap", day("2021-08-01")),  # test vs production
    ("g2-ap-PNO000051-tietoevry.pem", "g3-ap", day("2021-07-01")),  # G2 after the G3 move
    ("2010-ap-APP_1000000025-evry.pem", "g2-ap", day("2014-10-01")),  # the 2010 PKI vs G2
    ("g2-smp-PNO000179-digdir.pem", "g2-ap", day("2021-11-01")),  # SMP under the AP CA
]


@pytest.mark.parametrize(
    ("file", "chain", "at"), WRONG_ANCHORS, ids=[f"{f[:-4]}-vs-{c}" for f, c, _ in WRONG_ANCHORS]
)
async def test_a_leaf_under_another_pkis_anchors_is_untrusted_for_both(
    file: str, chain: str, at: datetime, ca_pems: dict[str, tuple[Path, Path]]
) -> None:
    anchor, ca = CHAINS[chain]
    result = await judge(
        CertificateTarget(
            file=str(LEAVES / file),
            trust_anchors=str(HERE / anchor),
            intermediates=str(HERE / ca),
            at=at.replace(tzinfo=None).isoformat(),
        )
    )
    assert result.reason is R.CHAIN_UNTRUSTED, result.detail
    assert openssl_verify(LEAVES / file, *ca_pems[chain], at) == {R.CHAIN_UNTRUSTED}


async def test_the_issuing_ca_alone_as_anchor_is_trusted_as_openssl_partial_chain_does(
    tmp_path: Path, ca_pems: dict[str, tuple[Path, Path]]
) -> None:
    """SMP metadata publishes a leaf without its CA, so users anchor on the issuing CA
    (the README says so). vigie trusts it as configured; openssl does with -partial_chain
    and without it asks for the root: the one divergence, by openssl's design."""
    leaf = LEAVES / "g2-smp-PNO000179-digdir.pem"
    _, ca = ca_pems["g2-smp"]
    at = day("2021-11-01")
    result = await judge(
        CertificateTarget(file=str(leaf), trust_anchors=str(ca), at=at.isoformat()[:19])
    )
    assert result.reason is R.OK, result.detail
    assert openssl_verify(leaf, ca, None, at, partial=True) == frozenset()
    divergence = {"without -partial_chain": openssl_verify(leaf, ca, None, at)}
    assert divergence == {"without -partial_chain": {R.CHAIN_UNTRUSTED}}


# Every CA generation: each intermediate against its root, judged as the leaf of a file.
CA_PAIRS = [
    ("peppol-2010/peppol-access-point-ca.pem", "peppol-2010/peppol-root-ca.pem", "2015-01-01"),
    (
        "peppol-2010/peppol-service-metadata-publisher-test-ca.pem",
        "peppol-2010/peppol-root-test-ca.pem",
        "2015-01-01",
    ),
    ("peppol-g2/Peppol_AccessPoint_CA.cer", "peppol-g2/Peppol_Root_CA.cer", "2026-12-01"),
    (
        "peppol-g2/Peppol_Test_ServiceMetadataPublisher_CA.cer",
        "peppol-g2/Peppol_Test_Root_CA.cer",
        "2026-12-01",
    ),
    ("peppol-g3/PEPPOL_ACCESS_POINT_CA-G3.pem", "peppol-g3/PEPPOL_Root_CA-G3.pem", "2026-12-01"),
    (
        "peppol-g3/PEPPOL_SERVICE_METADATA_PUBLISHER_CA-G3.pem",
        "peppol-g3/PEPPOL_Root_CA-G3.pem",
        "2026-12-01",
    ),
    (
        "peppol-g3/PEPPOL_ACCESS_POINT_TEST_CA-G3.pem",
        "peppol-g3/PEPPOL_Root_TEST_CA-G3.pem",
        "2026-12-01",
    ),
    (
        "peppol-g3/PEPPOL_SERVICE_METADATA_PUBLISHER_TEST_CA-G3.pem",
        "peppol-g3/PEPPOL_Root_TEST_CA-G3.pem",
        "2026-12-01",
    ),
]


@pytest.mark.parametrize(
    ("ca", "root", "when"), CA_PAIRS, ids=[Path(ca).stem for ca, _, _ in CA_PAIRS]
)
async def test_each_issuing_ca_chains_to_its_root_as_openssl_says(
    ca: str, root: str, when: str, tmp_path: Path
) -> None:
    (ca_cert,), (root_cert,) = read_certificates(HERE / ca), read_certificates(HERE / root)
    at = day(when)
    verdict = await judge_path(
        ca_cert, [], [root_cert], at=at, options=PathOptions(profile=Profile.RFC5280)
    )
    assert verdict.reason is R.OK, verdict.detail
    assert verdict.path == (ca_cert, root_cert)
    ca_pem = pem_file([ca_cert], tmp_path / "ca.pem")
    assert openssl_verify(ca_pem, pem_file([root_cert], tmp_path / "root.pem"), None, at) == set()
    # No path from one generation's CA to another generation's root.
    other = (
        "peppol-g3/PEPPOL_Root_CA-G3.pem" if "g3" not in root else "peppol-g2/Peppol_Root_CA.cer"
    )
    (other_root,) = read_certificates(HERE / other)
    crossed = await judge_path(
        ca_cert, [], [other_root], at=at, options=PathOptions(profile=Profile.RFC5280)
    )
    assert crossed.reason is R.CHAIN_UNTRUSTED
    other_pem = pem_file([other_root], tmp_path / "other.pem")
    assert openssl_verify(ca_pem, other_pem, None, at) == {R.CHAIN_UNTRUSTED}


@pytest.mark.parametrize(
    ("directory", "root", "when", "reason", "detail"),
    [
        pytest.param(
            "peppol-2010", "peppol-2010/peppol-root-ca.pem", "2015-01-01",
            R.WEAK_SIGNATURE, "PEPPOL ACCESS POINT CA: signed with SHA1", id="2010-sha1",
        ),
        pytest.param(
            "peppol-g2", "peppol-g2/Peppol_Root_CA.cer", "2026-12-01",
            R.OK, "PEPPOL ACCESS POINT CA - G2 expires in 397 days; 6 certificate(s)", id="g2",
        ),
        pytest.param(
            "peppol-g3", "peppol-g3/PEPPOL_Root_CA-G3.pem", "2026-12-01",
            R.OK, "PEPPOL ACCESS POINT CA - G3 expires in 2965 days; 6 certificate(s)", id="g3",
        ),
        pytest.param(
            "peppol-g3", "peppol-g3/PEPPOL_Root_CA-G3.pem", "2024-12-01",
            R.CERT_NOT_YET_VALID, "PEPPOL ACCESS POINT CA - G3 is valid from 2025-01-14 18:04Z",
            id="g3-before-its-time",
        ),
    ],
)  # fmt: skip
async def test_each_ca_generation_is_judged_on_its_algorithms_and_windows(
    directory: str, root: str, when: str, reason: FailureReason, detail: str
) -> None:
    """The 2010 CAs are RSA-SHA1 (weak_signature, the path itself sound); G2 and G3 are
    RSA-SHA256 with 4096-bit keys, never weak."""
    result = await judge(
        CertificateTarget(file=str(HERE / directory), trust_anchors=str(HERE / root), at=when)
    )
    assert (result.reason, result.detail) == (reason, detail)
    if directory != "peppol-2010":
        assert not problems(result) & {R.WEAK_KEY, R.WEAK_SIGNATURE}


def openssl_fields(path: Path) -> dict[str, str]:
    form = "DER" if path.suffix == ".cer" else "PEM"
    done = subprocess.run(
        ["openssl", "x509", "-inform", form, "-in", str(path), "-noout", "-nameopt", "RFC2253",
         "-subject", "-issuer", "-serial", "-enddate"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return dict(line.split("=", 1) for line in done.stdout.splitlines())


EVERY_FILE = sorted(p.relative_to(HERE) for p in HERE.rglob("*") if p.suffix in {".pem", ".cer"})


@pytest.mark.parametrize("file", EVERY_FILE, ids=str)
def test_what_vigie_shows_of_a_certificate_is_what_openssl_prints(file: Path) -> None:
    """Subject and issuer as `openssl x509 -nameopt RFC2253` writes them (serialNumber,
    title and GN by name, not as dotted OIDs), the serial as `-serial`, notAfter."""
    (certificate,) = read_certificates(HERE / file)
    facts = CertificateFacts.of(certificate)
    fields = openssl_fields(HERE / file)
    assert (facts.subject, facts.issuer, facts.serial) == (
        fields["subject"],
        fields["issuer"],
        fields["serial"],
    )
    not_after = datetime.strptime(fields["notAfter"], "%b %d %H:%M:%S %Y GMT")
    assert facts.not_after == not_after.replace(tzinfo=UTC)


def test_the_edelivery_subject_with_serial_number_is_named_by_openssl_names() -> None:
    (certificate,) = read_certificates(LEAVES / "edelivery-ihe-europe-qaepsos-min-saude-pt.pem")
    assert CertificateFacts.of(certificate).subject == (
        "title=Service Provider,CN=qaepsos.min-saude.pt,serialNumber=Cunha,GN=Joao,"
        "OU=SPMS,O=MoH,C=PT"
    )


@pytest.mark.parametrize(
    "file",
    [
        "edelivery-domismp-smp-mock-services.pem",
        "edelivery-domismp-sample-national-infrastructure.pem",
    ],
)
async def test_a_self_signed_edelivery_smp_key_is_weak_on_a_sound_path(
    file: str, tmp_path: Path
) -> None:
    """DomiSMP's test signing certificates: self-signed RSA 1024, trusted as themselves."""
    path, at = LEAVES / file, day("2020-01-01")
    result = await judge(
        CertificateTarget(file=str(path), trust_anchors=str(path), at=at.isoformat()[:19])
    )
    assert problems(result) == {R.WEAK_KEY}
    assert result.detail.endswith(": RSA 1024 bits (< 2048)")
    assert openssl_verify(path, path, None, at) == frozenset()


# -- the webpki profile on a Peppol certificate -------------------------------------------

AP_LEAF = LEAVES / "g2-ap-PNO000051-tietoevry.pem"
AP_AT = day("2021-07-01")


def g2_ap_chain() -> tuple[x509.Certificate, x509.Certificate, x509.Certificate]:
    (leaf,) = read_certificates(AP_LEAF)
    anchor, ca = CHAINS["g2-ap"]
    return leaf, *read_certificates(HERE / ca), *read_certificates(HERE / anchor)


def test_a_peppol_ap_certificate_presented_by_a_tls_server_fails_webpki_for_want_of_a_san() -> None:
    """What a `url` target (profile webpki, the default) says of a server presenting an
    Access Point certificate: the README's "subjectAltName required"."""
    leaf, ca, root = g2_ap_chain()
    assessment = assess_chain(
        [leaf, ca], trust=Store([root]), hostname="ap.example.org", now=AP_AT,
        policy=CertificatePolicy(),
    )  # fmt: skip
    assert [f.reason for f in assessment.findings] == [R.CHAIN_UNTRUSTED, R.HOSTNAME_MISMATCH]
    assert assessment.findings[0].detail == (
        "PNO000051 does not validate against the trust anchors: missing required extension: "
        "leaf server certificate has no subjectAltName "
        "(at C=NO,O=TietoEVRY,OU=PEPPOL PRODUCTION AP,CN=PNO000051)"
    )
    assert assessment.findings[1].detail == "ap.example.org not in the leaf's (no subjectAltName)"
    verdict = asyncio.run(
        judge_path(leaf, [ca], [root], at=AP_AT,
                   options=PathOptions(profile=Profile.WEBPKI, hostname="ap.example.org"))
    )  # fmt: skip
    assert verdict.reason is R.CHAIN_UNTRUSTED
    assert "no subjectAltName" in verdict.detail


@pytest.mark.parametrize("profile", ["rfc5280", "webpki"])
async def test_a_peppol_ap_certificate_file_is_ok_under_either_profile(profile: str) -> None:
    """A file's leaf is judged as a signing certificate, which needs no subjectAltName;
    with webpki the configured intermediates build its path too (they were ignored)."""
    anchor, ca = CHAINS["g2-ap"]
    result = await judge(
        CertificateTarget(
            file=str(AP_LEAF), trust_anchors=str(HERE / anchor), intermediates=str(HERE / ca),
            at="2021-07-01", profile=profile,
        )
    )  # fmt: skip
    assert result.reason is R.OK, result.detail


# -- the command line ------------------------------------------------------------------


async def test_vigie_probe_cert_on_a_real_access_point_certificate() -> None:
    anchor, ca = CHAINS["g2-ap"]
    arguments = ["--file", str(AP_LEAF), "--trust-anchors", str(HERE / anchor)]
    arguments += ["--intermediates", str(HERE / ca)]
    for at, code, verdict in (
        ("2021-07-01", 0, "ok (PNO000051 expires in 385 days; 1 certificate(s))"),
        ("2022-08-01", 1, "cert_expired (PNO000051 expired 10 days ago)"),
    ):
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "vigie", "probe", "cert", *arguments, "--at", at),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        text = out.decode()
        assert (process.returncode, err.decode()) == (code, ""), text
        assert f"x509 {AP_LEAF}: {verdict} [" in text.splitlines()[0]
        assert (
            "- subject C=NO,O=TietoEVRY,OU=PEPPOL PRODUCTION AP,CN=PNO000051, "
            "issuer CN=PEPPOL ACCESS POINT CA - G2,O=OpenPEPPOL AISBL,C=BE, "
            "serial 097969D3FFF9C63DE7FA18CFD66A58F3, not_before 2020-07-31T00:00:00+00:00, "
            "not_after 2022-07-21T23:59:59+00:00"
        ) in text
