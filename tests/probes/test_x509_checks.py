"""Certificate verdicts without any server: windows, trust, hostname, algorithms.

The clock is passed in, so every verdict here is the same on any day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import Store

from probes import FailureReason
from probes.cert_checks import (
    CertificatePolicy,
    assess_certificates,
    assess_chain,
    at_time,
    hostname_matches,
)
from tests.probes.tls_test_servers import days, issue, sha1_signed, weak_rsa_key
from tests.support import require_program
from vigie.lab.pki import LabPki

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
POLICY = CertificatePolicy()
R = FailureReason


@pytest.fixture(scope="module")
def pki() -> LabPki:
    return LabPki.generate("http://127.0.0.1:9", now=NOW)


@pytest.fixture(scope="module")
def other_pki() -> LabPki:
    return LabPki.generate("http://127.0.0.1:9", now=NOW)


@dataclass(frozen=True)
class Case:
    endpoint: str
    hostname: str | None = "smp1.edelivery.test"
    at: timedelta = timedelta(0)
    drop_intermediate: bool = False
    foreign_anchor: bool = False
    reason: FailureReason = R.OK
    also: frozenset[FailureReason] = frozenset()


CASES = [
    pytest.param(Case("smp1"), id="valid-chain"),
    pytest.param(Case("smp1", hostname="127.0.0.1"), id="ip-address-san"),
    pytest.param(Case("smp1", hostname=None), id="no-hostname-no-match-check"),
    pytest.param(Case("smp1", hostname="smp2.edelivery.test", reason=R.HOSTNAME_MISMATCH),
                 id="hostname-mismatch"),
    pytest.param(Case("smp2", hostname="smp2.edelivery.test", reason=R.CERT_EXPIRING),
                 id="five-days-left-is-expiring"),
    pytest.param(Case("ap1", hostname="ap1.edelivery.test", reason=R.CERT_EXPIRING),
                 id="twenty-days-left-is-expiring"),
    pytest.param(Case("smp1-expired", reason=R.CERT_EXPIRED), id="expired-leaf"),
    pytest.param(Case("smp1", at=-days(400), reason=R.CERT_NOT_YET_VALID), id="not-yet-valid"),
    pytest.param(Case("smp1", at=days(366), reason=R.CERT_EXPIRED), id="expired-later"),
    pytest.param(Case("smp1", drop_intermediate=True, reason=R.CHAIN_UNTRUSTED),
                 id="missing-intermediate"),
    pytest.param(Case("smp1", foreign_anchor=True, reason=R.CHAIN_UNTRUSTED),
                 id="another-root"),
    pytest.param(
        Case("smp1-expired", foreign_anchor=True, reason=R.CERT_EXPIRED,
             also=frozenset({R.CHAIN_UNTRUSTED})),
        id="expired-and-untrusted-both-found",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_chain_verdicts(case: Case, pki: LabPki, other_pki: LabPki) -> None:
    issued = pki.by_name(case.endpoint)
    presented = [issued.cert] if case.drop_intermediate else list(issued.chain)
    anchor = other_pki.root.cert if case.foreign_anchor else pki.root.cert
    assessment = assess_chain(
        presented,
        trust=Store([anchor]),
        hostname=case.hostname,
        now=NOW + case.at,
        policy=POLICY,
    )
    assert assessment.reason == case.reason, assessment.findings
    assert case.also <= assessment.reasons()
    if case.reason is R.OK:
        assert assessment.validated_chain == (issued.cert, pki.intermediate.cert, pki.root.cert)
        leaf, intermediate = assessment.certificates
        assert (leaf.role, leaf.issuer) == ("leaf", pki.intermediate.cert)
        assert (intermediate.role, intermediate.issuer) == ("intermediate", pki.root.cert)


def test_expiring_margin_is_the_policy(pki: LabPki) -> None:
    chain = list(pki.endpoint("ap1").chain)
    narrow = CertificatePolicy(warn_before=days(10))
    kwargs = {"trust": None, "hostname": "ap1.edelivery.test", "now": NOW}
    assert assess_chain(chain, policy=narrow, **kwargs).reason is R.OK  # type: ignore[arg-type]
    assert assess_chain(chain, policy=POLICY, **kwargs).reason is R.CERT_EXPIRING  # type: ignore[arg-type]


def test_without_anchors_there_is_no_trust_verdict(pki: LabPki, other_pki: LabPki) -> None:
    assessment = assess_chain(
        [pki.endpoint("smp1").cert], trust=None, hostname=None, now=NOW, policy=POLICY
    )
    assert (assessment.reason, assessment.validated_chain) == (R.OK, ())


def test_a_missing_issuer_is_named_with_what_to_do(pki: LabPki) -> None:
    assessment = assess_chain(
        [pki.endpoint("smp1").cert], trust=Store([pki.root.cert]), hostname=None, now=NOW,
        policy=POLICY,
    )  # fmt: skip
    (finding,) = [f for f in assessment.findings if f.reason is R.CHAIN_UNTRUSTED]
    assert finding.detail.endswith(
        "no path to the trust anchors: smp1.edelivery.test is issued by CN=vigie lab issuing "
        "CA,O=vigie lab, which is neither presented nor a trust anchor (add that CA to the "
        "trust anchors, or present it)"
    )


def test_at_time_moves_only_the_windows(pki: LabPki) -> None:
    chain = list(pki.endpoint("smp1").chain)
    first = assess_chain(
        chain, trust=Store([pki.root.cert]), hostname="smp1.edelivery.test", now=NOW, policy=POLICY
    )
    assert first.reason is R.OK
    assert at_time(first, NOW + days(340), POLICY).reason is R.CERT_EXPIRING
    later = at_time(first, NOW + days(400), POLICY)
    assert later.reason is R.CERT_EXPIRED
    assert later.validated_chain == first.validated_chain
    assert at_time(later, NOW, POLICY).findings == ()


def test_weak_key_and_sha1_signature_are_flagged(pki: LabPki, tmp_path: Path) -> None:
    weak = issue("weak.test", pki.intermediate, key=weak_rsa_key(), dns_names=["weak.test"],
                 not_before=NOW - days(1), not_after=NOW + days(90)).cert  # fmt: skip
    sha1 = sha1_signed(require_program("openssl"), pki.intermediate, "sha1.test", tmp_path)
    trust = Store([pki.root.cert])
    for cert, hostname, reason, text in [
        (weak, "weak.test", R.WEAK_KEY, "RSA 1024 bits (< 2048)"),
        (sha1, "sha1.test", R.WEAK_SIGNATURE, "signed with SHA1"),
    ]:
        chain = [cert, pki.intermediate.cert]
        now = cert.not_valid_before_utc + days(1)  # openssl dates it from the real clock
        assessment = assess_chain(chain, trust=trust, hostname=hostname, now=now, policy=POLICY)
        assert assessment.reason is reason
        assert text in assessment.detail
    lenient = CertificatePolicy(min_rsa_bits=1024)
    chain = [weak, pki.intermediate.cert]
    assert (
        R.WEAK_KEY
        not in assess_chain(
            chain, trust=None, hostname="weak.test", now=NOW, policy=lenient
        ).reasons()
    )


@pytest.mark.parametrize(
    ("pattern", "hostname", "matches"),
    [
        pytest.param("smp.example.org", "SMP.example.org.", True, id="case-and-trailing-dot"),
        pytest.param("*.example.org", "smp.example.org", True, id="wildcard-one-label"),
        pytest.param("*.example.org", "a.smp.example.org", False, id="wildcard-not-two-labels"),
        pytest.param("*.example.org", "example.org", False, id="wildcard-not-the-parent"),
        pytest.param("*.org", "example.org", False, id="no-wildcard-on-a-tld"),
        pytest.param("smp.example.org", "smp.example.com", False, id="other-name"),
    ],
)
def test_hostname_matching(pki: LabPki, pattern: str, hostname: str, matches: bool) -> None:
    issued = issue(pattern, pki.intermediate, not_before=NOW, not_after=NOW + days(1),
                   dns_names=[pattern])  # fmt: skip
    assert hostname_matches(issued.cert, hostname) is matches


def test_a_certificate_without_san_never_matches(pki: LabPki) -> None:
    issued = issue("smp.example.org", pki.intermediate, not_before=NOW, not_after=NOW + days(1))
    assert not hostname_matches(issued.cert, "smp.example.org")


def test_files_validate_each_leaf_with_the_others_as_intermediates(
    pki: LabPki, other_pki: LabPki
) -> None:
    found = [pki.signing.cert, pki.intermediate.cert, pki.endpoint("ap1").cert]
    good = assess_certificates(found, trust=Store([pki.root.cert]), now=NOW, policy=POLICY)
    # ap1 has 20 days left; the signing certificate (no serverAuth) validates.
    assert good.reasons() == {R.CERT_EXPIRING}
    assert {m.role for m in good.certificates} == {"file"}
    assert all(m.issuer is not None for m in good.certificates)
    foreign = assess_certificates(found, trust=Store([other_pki.root.cert]), now=NOW,
                                  policy=POLICY)  # fmt: skip
    untrusted = [f for f in foreign.findings if f.reason is R.CHAIN_UNTRUSTED]
    assert len(untrusted) == 2  # the two leaves, not the CA certificate
    assert foreign.reason is R.CHAIN_UNTRUSTED
    # Said as what to do about it, naming the certificate whose issuer is missing.
    # Said as what is wrong, naming the certificates: the other PKI's root has the
    # same name as ours, not the key that signed our issuing CA.
    assert all(
        "no path to the trust anchors: vigie lab issuing CA names CN=vigie lab root CA,"
        "O=vigie lab as its issuer, but the CA of that name among the trust anchors has "
        "another key" in f.detail
        for f in untrusted
    ), untrusted


def test_a_lone_anchor_file_is_judged_on_its_window(pki: LabPki) -> None:
    assessment = assess_certificates(
        [pki.root.cert], trust=Store([pki.root.cert]), now=NOW, policy=POLICY
    )
    assert assessment.reason is R.OK
    assert isinstance(assessment.certificates[0].certificate, x509.Certificate)


def test_a_stale_extra_certificate_off_the_path_is_no_outage(pki: LabPki) -> None:
    # Servers still send certificates nobody needs, such as an expired cross-signed CA.
    stale = issue("old cross-signed CA", None, ca=True, not_before=NOW - days(900),
                  not_after=NOW - days(30))  # fmt: skip
    presented = [*pki.endpoint("smp1").chain, stale.cert]
    trusted = assess_chain(presented, trust=Store([pki.root.cert]), hostname=None, now=NOW,
                           policy=POLICY)  # fmt: skip
    assert trusted.reason is R.OK
    assert at_time(trusted, NOW + days(1), POLICY).reason is R.OK
    unvalidated = assess_chain(presented, trust=None, hostname=None, now=NOW, policy=POLICY)
    assert unvalidated.reason is R.CERT_EXPIRED  # without anchors every certificate counts
