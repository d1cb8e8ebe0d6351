"""x509-limbo (C2SP's X.509 path validation suite) through vigie's whole-path verdict.

Each case goes through `probes.cert_path.judge_path` with the case's anchors,
intermediates and validation time, revocation off (the `crl::` family: its CRLs, given as
files), in the profile that judges such a path in vigie. The WebPKI profile also gets the
expected peer name, and since vigie reports a name that the leaf does not carry as its own
finding (`hostname_mismatch`, `probes.cert_checks.hostname_matches`) beside the path
verdict, a server case passes only when both are clean. SUCCESS must be `ok`; FAILURE any
other verdict. The cases come from tests/probes/x509_limbo/ (see its README).

A case vigie cannot express is left out by `_left_out`, a rule, never by name. Every
other mismatch is either fixed in probes/ or listed in `KNOWN_DIVERGENCES` with why; a
divergence that disappears or appears fails the test. The run writes docs/x509-limbo.md.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from probes.cert_checks import hostname_matches
from probes.cert_path import PathOptions, Profile, RevocationMode, judge_path

SUITE = Path(__file__).resolve().parent / "x509_limbo" / "limbo.json.gz"
DOC = Path(__file__).resolve().parents[2] / "docs" / "x509-limbo.md"
# A case without a validation time is judged "now"; its certificates are valid from 1970
# to 2969, so the day the suite was generated stands for now and keeps runs reproducible.
NOW = datetime(2026, 12, 7, tzinfo=UTC)
# Some cases carry negative or zero serial numbers on purpose; cryptography warns on them.
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

WEBPKI, RFC5280 = Profile.WEBPKI, Profile.RFC5280
# The profile each family is judged by, and why:
PROFILES: dict[str, tuple[Profile, ...]] = {
    "webpki": (WEBPKI,),
    "rfc5280": (RFC5280,),
    # RFC 5280 4.2.1.9's rule; the WebPKI rules refuse two of its valid paths for reasons
    # that are not path length (a CA certificate as the leaf, a self-issued intermediate).
    "pathlen": (RFC5280,),
    # CRL processing is RFC 5280's, the profile vigie checks revocation with; the WebPKI
    # rules would refuse the CRL issuer that has no keyUsage, valid by RFC 5280.
    "crl": (RFC5280,),
    # TLS server chains (a Go name-constraint flaw, real sites): what the WebPKI profile,
    # vigie's default for TLS endpoints, judges.
    "cve": (WEBPKI,),
    "online": (WEBPKI,),
    # Chains built to exhaust a validator: both profiles read hostile input.
    "pathological": (WEBPKI, RFC5280),
}


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    family: str
    expected_ok: bool
    raw: dict[str, object]

    @property
    def peer_name(self) -> str | None:
        name = self.raw["expected_peer_name"]
        return str(name["value"]) if isinstance(name, dict) else None


def _load() -> list[Case]:
    suite = json.loads(gzip.decompress(SUITE.read_bytes()))
    return [
        Case(raw["id"], raw["id"].split("::")[0], raw["expected_result"] == "SUCCESS", raw)
        for raw in suite["testcases"]
    ]


def _left_out(case: Case) -> str | None:
    """Why vigie cannot express a case, or None. Rules, not names."""
    if case.family not in PROFILES:
        return "a family outside what vigie judges"
    if case.raw["validation_kind"] != "SERVER":
        return "client-certificate validation: vigie judges servers and signers, no clientAuth"
    if case.raw["max_chain_depth"] is not None:
        return "a chain depth limit of the caller's: vigie's is fixed"
    return None


ALL = _load()
CASES = [case for case in ALL if _left_out(case) is None]
RUNS = [(profile, case) for case in CASES for profile in PROFILES[case.family]]

# Why vigie answers otherwise than limbo: (profile, reason, the cases).
_DIVERGENCES: list[tuple[Profile, str, tuple[str, ...]]] = [
    (
        RFC5280,
        "pyhanko-certvalidator uses a CRL without a cRLNumber, or with the extension marked "
        "critical (RFC 5280 5.2.3 says a conforming CA includes it, non-critical); vigie's "
        "CRL check reports neither",
        (
            "crl::crlnumber-missing",
            "crl::crlnumber-critical",
        ),
    ),
    (
        RFC5280,
        "issuance rule (RFC 5280 4.2.1.1: key identifiers MUST be present, AKI non-critical) "
        "that pyhanko-certvalidator does not enforce when validating",
        (
            "rfc5280::aki::critical-aki",
            "rfc5280::aki::leaf-missing-aki",
            "rfc5280::aki::intermediate-missing-aki",
            "rfc5280::aki::cross-signed-root-missing-aki",
        ),
    ),
    (
        RFC5280,
        "the rfc5280 profile judges signing and Access Point certificates too, so it asks for "
        "no extendedKeyUsage; vigie has no setting for one",
        (
            "rfc5280::eku::ee-wrong-eku",
            "rfc5280::eku::ee-eku-empty",
        ),
    ),
    (
        RFC5280,
        "RFC 5280 4.2.1.10 says a CA MUST mark nameConstraints critical; pyhanko- "
        "certvalidator applies them either way",
        ("rfc5280::nc::permitted-dns-match-noncritical",),
    ),
    (
        RFC5280,
        "pyhanko-certvalidator cannot check iPAddress name constraints; vigie fails closed "
        "(chain_untrusted) rather than ignore them",
        (
            "rfc5280::nc::permitted-ipv4-match",
            "rfc5280::nc::permitted-ipv6-match",
        ),
    ),
    (
        RFC5280,
        "nameConstraints in an end-entity certificate (RFC 5280 4.2.1.10: CAs only); pyhanko- "
        "certvalidator ignores them there",
        (
            "rfc5280::nc::not-allowed-in-ee-noncritical",
            "rfc5280::nc::not-allowed-in-ee-critical",
        ),
    ),
    (
        RFC5280,
        "a malformed dNSName in the leaf's subjectAltName is not a parse error for "
        "asn1crypto, and the constraint accepts it",
        ("rfc5280::nc::nc-permits-invalid-dns-san",),
    ),
    (
        RFC5280,
        "pyhanko-certvalidator fails on an otherName constraint (unhashable value), so vigie "
        "reports cert_malformed",
        ("rfc5280::nc::nc-forbids-othername-noop",),
    ),
    (
        RFC5280,
        "pyhanko-certvalidator matches a wildcard dNSName as a literal name against excluded "
        "subtrees",
        ("rfc5280::nc::nc-forbids-dnsname-wildcard-san",),
    ),
    (
        RFC5280,
        "RFC 5280 4.2.1.11 says policyConstraints MUST be critical; pyhanko-certvalidator "
        "applies them either way",
        ("rfc5280::pc::ica-noncritical-pc",),
    ),
    (
        RFC5280,
        "subjectAltName syntax rules (RFC 5280 4.2.1.6) that asn1crypto and pyhanko- "
        "certvalidator do not check",
        (
            "rfc5280::san::noncritical-with-empty-subject",
            "rfc5280::san::underscore-dns",
            "rfc5280::san::ip-in-dns",
        ),
    ),
    (
        RFC5280,
        "serial number rules (RFC 5280 4.1.2.2: positive, at most 20 octets) are issuance "
        "rules pyhanko-certvalidator does not enforce",
        (
            "rfc5280::serial::too-long",
            "rfc5280::serial::zero",
            "rfc5280::serial::negative",
        ),
    ),
    (
        RFC5280,
        "issuance rule (RFC 5280 4.2.1.2: CAs MUST carry a subjectKeyIdentifier) that "
        "pyhanko-certvalidator does not enforce when validating",
        (
            "rfc5280::ski::root-missing-ski",
            "rfc5280::ski::intermediate-missing-ski",
        ),
    ),
    (
        RFC5280,
        "RFC 5280 6.1 treats the trust anchor as input, not as a certificate to validate; "
        "pyhanko-certvalidator does not check its validity (the webpki profile does)",
        ("rfc5280::validity::expired-root",),
    ),
    (
        RFC5280,
        "judged 5 ms after notAfter, which limbo reads at one-second granularity; vigie "
        "compares the instants exactly (RFC 5280 allows either), as it must for "
        "expired-1-second",
        ("rfc5280::validity::notafter-fractional",),
    ),
    (
        RFC5280,
        "issuance rule (RFC 5280 4.1.2.6: a CA's subject MUST be non-empty) that pyhanko- "
        "certvalidator does not enforce",
        ("rfc5280::ca-empty-subject",),
    ),
    (
        RFC5280,
        "the trust anchor is input (RFC 5280 6.1): pyhanko-certvalidator does not process the "
        "anchor's extensions",
        ("rfc5280::unknown-critical-extension-root",),
    ),
    (
        RFC5280,
        "the trust anchor is input (RFC 5280 6.1): pyhanko-certvalidator does not process the "
        "anchor's basicConstraints or keyUsage",
        (
            "rfc5280::root-missing-basic-constraints",
            "rfc5280::root-non-critical-basic-constraints",
            "rfc5280::root-inconsistent-ca-extensions",
        ),
    ),
    (
        RFC5280,
        "keyCertSign in a non-CA leaf (RFC 5280 4.2.1.3) is an issuance rule pyhanko- "
        "certvalidator does not enforce",
        ("rfc5280::leaf-ku-keycertsign",),
    ),
    (
        RFC5280,
        "RFC 5280 4.2.2.1 says authorityInfoAccess MUST be non-critical; pyhanko- "
        "certvalidator accepts it critical",
        ("rfc5280::ee-critical-aia-invalid",),
    ),
    (
        RFC5280,
        "asn1crypto reads a certificate with an extension twice (RFC 5280 4.2 forbids it) and "
        "pyhanko-certvalidator uses one",
        ("rfc5280::duplicate-extensions",),
    ),
    (
        RFC5280,
        "the rfc5280 profile takes no peer name (it judges files and SMP signers); the name "
        "is checked only for TLS endpoints",
        ("rfc5280::ca-as-leaf-wrong-san",),
    ),
    (
        WEBPKI,
        "cryptography's verifier does not check the trust anchor's authorityKeyIdentifier",
        (
            "webpki::aki::root-with-aki-authoritycertissuer",
            "webpki::aki::root-with-aki-authoritycertserialnumber",
            "webpki::aki::root-with-aki-all-fields",
            "webpki::aki::root-with-aki-ski-mismatch",
        ),
    ),
    (
        WEBPKI,
        "CA/B Forum BR 7.1.4.3 (the CN must repeat a subjectAltName, in the same form) is an "
        "issuance rule; cryptography's verifier and vigie's name check read subjectAltName "
        "only",
        (
            "webpki::cn::ipv4-hex-mismatch",
            "webpki::cn::ipv4-leading-zeros-mismatch",
            "webpki::cn::ipv6-uppercase-mismatch",
            "webpki::cn::ipv6-uncompressed-mismatch",
            "webpki::cn::ipv6-non-rfc5952-mismatch",
            "webpki::cn::punycode-not-in-san",
            "webpki::cn::utf8-vs-punycode-mismatch",
            "webpki::cn::not-in-san",
            "webpki::cn::case-mismatch",
        ),
    ),
    (
        WEBPKI,
        "cryptography's verifier accepts this extendedKeyUsage (absent, anyExtendedKeyUsage, "
        "or on the root); a CA/B Forum issuance rule it leaves out",
        (
            "webpki::eku::ee-anyeku",
            "webpki::eku::ee-without-eku",
            "webpki::eku::root-has-eku",
        ),
    ),
    (
        WEBPKI,
        "a wildcard over a public suffix: vigie's name check has no public suffix list",
        (
            "webpki::san::public-suffix-multi-label-wildcard-san",
            "webpki::san::public-suffix-private-namespace-wildcard-san",
        ),
    ),
    (
        WEBPKI,
        "cryptography's verifier accepts a P-192 leaf key; vigie reports weak keys beside the "
        "path verdict (weak_key), not as a path failure",
        ("webpki::forbidden-p192-leaf",),
    ),
    (
        WEBPKI,
        "cryptography's verifier accepts a DSA leaf key; vigie reports it beside the path "
        "verdict (weak_key), not as a path failure",
        ("webpki::forbidden-dsa-leaf",),
    ),
    (
        WEBPKI,
        "cryptography's verifier accepts RSA-1024; vigie reports it beside the path verdict "
        "(weak_key), not as a path failure",
        ("webpki::forbidden-weak-rsa-in-leaf",),
    ),
    (
        WEBPKI,
        "an RSA modulus whose size is not a multiple of 8 (CA/B Forum 6.1.5) is accepted by "
        "cryptography's verifier and not a vigie finding",
        (
            "webpki::forbidden-rsa-not-divisible-by-8-in-root",
            "webpki::forbidden-rsa-key-not-divisible-by-8-in-leaf",
        ),
    ),
]
KNOWN_DIVERGENCES: dict[tuple[Profile, str], str] = {
    (profile, case_id): why for profile, why, ids in _DIVERGENCES for case_id in ids
}


def _pem(text: object) -> x509.Certificate:
    return x509.load_pem_x509_certificate(str(text).encode())


async def _verdict(profile: Profile, case: Case) -> str:
    """ "ok", or the failure reason (and detail) vigie gives."""
    raw = case.raw
    leaf = _pem(raw["peer_certificate"])
    intermediates = [_pem(pem) for pem in raw["untrusted_intermediates"]]  # type: ignore[attr-defined]
    anchors = [_pem(pem) for pem in raw["trusted_certs"]]  # type: ignore[attr-defined]
    crls = tuple(
        x509.load_pem_x509_crl(str(pem).encode()).public_bytes(Encoding.DER)
        for pem in raw["crls"] or ()  # type: ignore[attr-defined]
    )
    at = datetime.fromisoformat(str(raw["validation_time"])) if raw["validation_time"] else NOW
    name = case.peer_name if profile is WEBPKI else None
    options = PathOptions(
        profile=profile,
        revocation=RevocationMode.CRL if crls else RevocationMode.NONE,
        crls=crls,
        fetch=False,
        hostname=name,
    )
    try:
        verdict = await judge_path(leaf, intermediates, anchors, at=at, options=options)
    except Exception as exc:  # reported as the case's failure
        return f"raised {type(exc).__name__}: {exc}"
    if verdict.ok and name is not None and not hostname_matches(leaf, name):
        return "hostname_mismatch"
    return "ok" if verdict.ok else f"{verdict.reason}: {verdict.detail}"


@pytest.fixture(scope="module")
def verdicts() -> dict[tuple[Profile, str], str]:
    async def run_all() -> dict[tuple[Profile, str], str]:
        return {(profile, case.id): await _verdict(profile, case) for profile, case in RUNS}

    return asyncio.run(run_all())


def _agrees(case: Case, said: str) -> bool:
    return (said == "ok") == case.expected_ok


@pytest.mark.parametrize(
    ("profile", "case"), RUNS, ids=[f"{profile}-{case.id}" for profile, case in RUNS]
)
def test_x509_limbo_case(
    profile: Profile, case: Case, verdicts: dict[tuple[Profile, str], str]
) -> None:
    said = verdicts[profile, case.id]
    assert not said.startswith("raised"), said  # never for a certificate's fault
    expected = "SUCCESS" if case.expected_ok else "FAILURE"
    known = KNOWN_DIVERGENCES.get((profile, case.id))
    if known is None:
        assert _agrees(case, said), f"limbo says {expected}; vigie: {said}"
    else:
        assert not _agrees(case, said), f"no longer diverges ({known}): remove it from the table"


def test_every_known_divergence_is_run() -> None:
    assert set(KNOWN_DIVERGENCES) <= {(profile, case.id) for profile, case in RUNS}


def test_x509_limbo_results_are_documented(verdicts: dict[tuple[Profile, str], str]) -> None:
    counts: Counter[tuple[str, Profile, str]] = Counter()
    for profile, case in RUNS:
        outcome = "pass" if _agrees(case, verdicts[profile, case.id]) else "known divergence"
        counts[case.family, profile, outcome] += 1
    left_out = Counter((case.family, _left_out(case)) for case in ALL if _left_out(case))
    lines = [
        "# x509-limbo conformance",
        "",
        "Generated by `tests/probes/test_x509_limbo.py` (do not edit): the cases of",
        "[x509-limbo](https://github.com/C2SP/x509-limbo) vendored in",
        "`tests/probes/x509_limbo/` (its README says which), run through vigie's whole-path",
        "verdict (`probes.cert_path.judge_path`) in the profile each family is judged by.",
        "A WebPKI case passes only when the path is `ok` and the leaf carries the expected",
        "name (vigie's `hostname_mismatch` finding). SUCCESS must be `ok`, FAILURE anything",
        "else. Every divergence is listed below with why; the test fails on any other.",
        "",
        "| family | profile | cases | pass | known divergences |",
        "|---|---|---|---|---|",
    ]
    for family, profiles in PROFILES.items():
        for profile in profiles:
            passed = counts[family, profile, "pass"]
            diverged = counts[family, profile, "known divergence"]
            row = (family, str(profile), str(passed + diverged), str(passed), str(diverged))
            lines.append(f"| {' | '.join(row)} |")
    lines += ["", "Left out by rule (vigie has no input for them):", ""]
    lines += [f"- `{family}::`: {count} ({why})" for (family, why), count in left_out.items()]
    lines += [
        "",
        "## Known divergences",
        "",
        "| profile | case | limbo | why |",
        "|---|---|---|---|",
    ]
    by_id = {case.id: case for case in CASES}
    for (profile, case_id), why in KNOWN_DIVERGENCES.items():
        expected = "SUCCESS" if by_id[case_id].expected_ok else "FAILURE"
        lines.append(f"| {profile} | `{case_id}` | {expected} | {why} |")
    text = "\n".join([*lines, ""])
    if not DOC.exists() or DOC.read_text("utf-8") != text:
        DOC.write_text(text, "utf-8")
    wrong = [
        key
        for profile, case in RUNS
        if _agrees(case, verdicts[key := (profile, case.id)]) == (key in KNOWN_DIVERGENCES)
    ]
    assert not wrong


def test_a_duplicated_extension_is_a_finding_not_an_exception() -> None:
    """cryptography raises DuplicateExtension (no ValueError) on reading a certificate
    with an extension twice; vigie's own name check reads it as "no usable name"."""
    (case,) = [case for case in ALL if case.id == "rfc5280::duplicate-extensions"]
    leaf = _pem(case.raw["peer_certificate"])
    assert case.peer_name is not None
    assert not hostname_matches(leaf, case.peer_name)
