"""NIST PKITS (2011 edition) for the conformance test: the vectors, the cases, their inputs.

The certificates and CRLs ship in the PyPI wheel `cryptography-vectors` (x509/PKITS_data).
`pkits_data()` downloads the pinned wheel once with pip and unpacks only the certificates
and CRLs into the user's cache; nothing of it is committed.

`SECTIONS` lists the tests of PKITS sections 4.1-4.7 and 4.14-4.16 by their titles in the
PKITS document (section 4), written without spaces as the files are named. The first word
of a PKITS title is the document's expected result ("Valid ..." or "Invalid ..."), so the
expected verdict is read from the title, never from what vigie answers. `DOCUMENTED` adds,
for the cases whose text in section 4 says why the path is invalid in revocation terms,
whether the certificate is revoked or its status cannot be determined from the CRLs given.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

VECTORS_VERSION = "50.0.2"
_MEMBER = "cryptography_vectors/x509/PKITS_data/"

SECTIONS: dict[str, tuple[str, list[str]]] = {
    "4.1": ("Signature Verification", [
        "ValidCertificatePathTest1", "InvalidCASignatureTest2", "InvalidEESignatureTest3",
        "ValidDSASignaturesTest4", "ValidDSAParameterInheritanceTest5",
        "InvalidDSASignatureTest6",
    ]),
    "4.2": ("Validity Periods", [
        "InvalidCAnotBeforeDateTest1", "InvalidEEnotBeforeDateTest2",
        "Validpre2000UTCnotBeforeDateTest3", "ValidGeneralizedTimenotBeforeDateTest4",
        "InvalidCAnotAfterDateTest5", "InvalidEEnotAfterDateTest6",
        "Invalidpre2000UTCEEnotAfterDateTest7", "ValidGeneralizedTimenotAfterDateTest8",
    ]),
    "4.3": ("Verifying Name Chaining", [
        "InvalidNameChainingTest1", "InvalidNameChainingOrderTest2",
        "ValidNameChainingWhitespaceTest3", "ValidNameChainingWhitespaceTest4",
        "ValidNameChainingCapitalizationTest5", "ValidNameUIDsTest6",
        "ValidRFC3280MandatoryAttributeTypesTest7", "ValidRFC3280OptionalAttributeTypesTest8",
        "ValidUTF8StringEncodedNamesTest9", "ValidRolloverfromPrintableStringtoUTF8StringTest10",
        "ValidUTF8StringCaseInsensitiveMatchTest11",
    ]),
    "4.4": ("Basic Certificate Revocation Tests", [
        "InvalidMissingCRLTest1", "InvalidRevokedCATest2", "InvalidRevokedEETest3",
        "InvalidBadCRLSignatureTest4", "InvalidBadCRLIssuerNameTest5", "InvalidWrongCRLTest6",
        "ValidTwoCRLsTest7", "InvalidUnknownCRLEntryExtensionTest8",
        "InvalidUnknownCRLExtensionTest9", "InvalidUnknownCRLExtensionTest10",
        "InvalidOldCRLnextUpdateTest11", "Invalidpre2000CRLnextUpdateTest12",
        "ValidGeneralizedTimeCRLnextUpdateTest13", "ValidNegativeSerialNumberTest14",
        "InvalidNegativeSerialNumberTest15", "ValidLongSerialNumberTest16",
        "ValidLongSerialNumberTest17", "InvalidLongSerialNumberTest18",
        "ValidSeparateCertificateandCRLKeysTest19", "InvalidSeparateCertificateandCRLKeysTest20",
        "InvalidSeparateCertificateandCRLKeysTest21",
    ]),
    "4.5": ("Verifying Paths with Self-Issued Certificates", [
        "ValidBasicSelfIssuedOldWithNewTest1", "InvalidBasicSelfIssuedOldWithNewTest2",
        "ValidBasicSelfIssuedNewWithOldTest3", "ValidBasicSelfIssuedNewWithOldTest4",
        "InvalidBasicSelfIssuedNewWithOldTest5", "ValidBasicSelfIssuedCRLSigningKeyTest6",
        "InvalidBasicSelfIssuedCRLSigningKeyTest7", "InvalidBasicSelfIssuedCRLSigningKeyTest8",
    ]),
    "4.6": ("Verifying Basic Constraints", [
        "InvalidMissingbasicConstraintsTest1", "InvalidcAFalseTest2", "InvalidcAFalseTest3",
        "ValidbasicConstraintsNotCriticalTest4", "InvalidpathLenConstraintTest5",
        "InvalidpathLenConstraintTest6", "ValidpathLenConstraintTest7",
        "ValidpathLenConstraintTest8", "InvalidpathLenConstraintTest9",
        "InvalidpathLenConstraintTest10", "InvalidpathLenConstraintTest11",
        "InvalidpathLenConstraintTest12", "ValidpathLenConstraintTest13",
        "ValidpathLenConstraintTest14", "ValidSelfIssuedpathLenConstraintTest15",
        "InvalidSelfIssuedpathLenConstraintTest16", "ValidSelfIssuedpathLenConstraintTest17",
    ]),
    "4.7": ("Key Usage", [
        "InvalidkeyUsageCriticalkeyCertSignFalseTest1",
        "InvalidkeyUsageNotCriticalkeyCertSignFalseTest2", "ValidkeyUsageNotCriticalTest3",
        "InvalidkeyUsageCriticalcRLSignFalseTest4", "InvalidkeyUsageNotCriticalcRLSignFalseTest5",
    ]),
    "4.14": ("Distribution Points", [
        "ValiddistributionPointTest1", "InvaliddistributionPointTest2",
        "InvaliddistributionPointTest3", "ValiddistributionPointTest4",
        "ValiddistributionPointTest5", "InvaliddistributionPointTest6",
        "ValiddistributionPointTest7", "InvaliddistributionPointTest8",
        "InvaliddistributionPointTest9", "ValidNoissuingDistributionPointTest10",
        "InvalidonlyContainsUserCertsTest11", "InvalidonlyContainsCACertsTest12",
        "ValidonlyContainsCACertsTest13", "InvalidonlyContainsAttributeCertsTest14",
        "InvalidonlySomeReasonsTest15", "InvalidonlySomeReasonsTest16",
        "InvalidonlySomeReasonsTest17", "ValidonlySomeReasonsTest18",
        "ValidonlySomeReasonsTest19", "InvalidonlySomeReasonsTest20",
        "InvalidonlySomeReasonsTest21", "ValidIDPwithindirectCRLTest22",
        "InvalidIDPwithindirectCRLTest23", "ValidIDPwithindirectCRLTest24",
        "ValidIDPwithindirectCRLTest25", "InvalidIDPwithindirectCRLTest26",
        "InvalidcRLIssuerTest27", "ValidcRLIssuerTest28", "ValidcRLIssuerTest29",
        "ValidcRLIssuerTest30", "InvalidcRLIssuerTest31", "InvalidcRLIssuerTest32",
        "ValidcRLIssuerTest33", "InvalidcRLIssuerTest34", "InvalidcRLIssuerTest35",
    ]),
    "4.15": ("Delta-CRLs", [
        "InvaliddeltaCRLIndicatorNoBaseTest1", "ValiddeltaCRLTest2", "InvaliddeltaCRLTest3",
        "InvaliddeltaCRLTest4", "ValiddeltaCRLTest5", "InvaliddeltaCRLTest6",
        "ValiddeltaCRLTest7", "ValiddeltaCRLTest8", "InvaliddeltaCRLTest9",
        "InvaliddeltaCRLTest10",
    ]),
    "4.16": ("Private Certificate Extensions", [
        "ValidUnknownNotCriticalCertificateExtensionTest1",
        "InvalidUnknownCriticalCertificateExtensionTest2",
    ]),
}  # fmt: skip

# Section 4's reasons for some invalid paths: "revoked" where the document says the
# certificate (or a CA above it) is listed on a CRL that applies to it; "undetermined"
# where it says the only CRL given must not be used for it (missing, bad signature, wrong
# issuer, unknown critical extension, out of date, signer without cRLSign, a delta CRL
# without its base, a scope that excludes the certificate).
DOCUMENTED: dict[str, str] = {
    "InvalidRevokedCATest2": "revoked",
    "InvalidRevokedEETest3": "revoked",
    "InvalidNegativeSerialNumberTest15": "revoked",
    "InvalidLongSerialNumberTest18": "revoked",
    "InvalidMissingCRLTest1": "undetermined",
    "InvalidBadCRLSignatureTest4": "undetermined",
    "InvalidBadCRLIssuerNameTest5": "undetermined",
    "InvalidWrongCRLTest6": "undetermined",
    "InvalidUnknownCRLEntryExtensionTest8": "undetermined",
    "InvalidUnknownCRLExtensionTest9": "undetermined",
    "InvalidUnknownCRLExtensionTest10": "undetermined",
    "InvalidOldCRLnextUpdateTest11": "undetermined",
    "Invalidpre2000CRLnextUpdateTest12": "undetermined",
    "InvalidkeyUsageCriticalcRLSignFalseTest4": "undetermined",
    "InvalidkeyUsageNotCriticalcRLSignFalseTest5": "undetermined",
    "InvalidonlyContainsUserCertsTest11": "undetermined",
    "InvalidonlyContainsCACertsTest12": "undetermined",
    "InvalidonlyContainsAttributeCertsTest14": "undetermined",
    "InvaliddeltaCRLIndicatorNoBaseTest1": "undetermined",
}

# Cases that vigie's inputs cannot express, with why (none in these sections today; a
# case moves here only with a reason a user would accept).
NOT_EXPRESSIBLE: dict[str, str] = {
    "ValidDSAParameterInheritanceTest5": "the intermediate's DSA key inherits its parameters "
    "from its issuer (RFC 3279 2.3.2); cryptography, which reads every certificate vigie "
    "is given, refuses such a key, so vigie reports the files as cert_malformed",
}


@dataclass(frozen=True, slots=True)
class Case:
    section: str
    number: int
    name: str

    @property
    def expected_valid(self) -> bool:
        return self.name.startswith("Valid")

    @property
    def id(self) -> str:
        return f"{self.section}.{self.number}-{self.name}"


def cases() -> list[Case]:
    return [
        Case(section, number, name)
        for section, (_, names) in SECTIONS.items()
        for number, name in enumerate(names, start=1)
    ]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vigie" / f"pkits-{VECTORS_VERSION}"


def pkits_data() -> Path:
    """The PKITS_data folder (certs/, crls/), downloaded and unpacked on first use."""
    root = cache_dir()
    data = root / "PKITS_data"
    if (data / "crls" / "TrustAnchorRootCRL.crl").exists():
        return data
    root.mkdir(parents=True, exist_ok=True)
    wheel_dir = root / "wheel"
    wheels = sorted(wheel_dir.glob("cryptography_vectors-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "-d", str(wheel_dir), f"cryptography-vectors=={VECTORS_VERSION}"],
            check=True, timeout=300,
        )  # fmt: skip
        wheels = sorted(wheel_dir.glob("cryptography_vectors-*.whl"))
    partial = root / "PKITS_data.partial"
    with zipfile.ZipFile(wheels[0]) as archive:
        for member in archive.namelist():
            rest = member.removeprefix(_MEMBER)
            wanted = rest.startswith(("certs/", "crls/")) and not rest.endswith("/")
            if member.startswith(_MEMBER) and wanted:
                target = partial / rest
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(member))
    partial.rename(data)
    for wheel in wheels:  # 50 MB no longer needed once unpacked
        wheel.unlink()
    return data


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a user would hand vigie for one case: the certificate, the CA certificates
    they gathered for it (every CA named on the way up, and CRL issuers named by its
    distribution points), the trust anchor, and the CRLs those CAs issued."""

    leaf: Path
    intermediates: list[Path]
    anchor: Path
    crls: list[Path]


class Vectors:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.cas: dict[Path, x509.Certificate] = {}
        for path in sorted((data / "certs").glob("*.crt")):
            if path.stem.endswith("EE") or path.stem == "TrustAnchorRootCertificate":
                continue
            try:
                self.cas[path] = x509.load_der_x509_certificate(path.read_bytes())
            except ValueError:  # see NOT_EXPRESSIBLE: no vigie input can hold it either
                continue
        self.anchor = data / "certs" / "TrustAnchorRootCertificate.crt"
        self.crls = {
            path: _key(x509.load_der_x509_crl(path.read_bytes()).issuer)
            for path in sorted((data / "crls").glob("*.crl"))
        }

    def inputs(self, case: Case) -> Inputs:
        leaf_path = self.data / "certs" / f"{case.name}EE.crt"
        leaf = x509.load_der_x509_certificate(leaf_path.read_bytes())
        wanted = {_key(leaf.issuer), *_crl_issuers(leaf)}
        chosen: list[Path] = []
        grew = True
        while grew:
            grew = False
            for path, cert in self.cas.items():
                if path not in chosen and _key(cert.subject) in wanted:
                    chosen.append(path)
                    wanted |= {_key(cert.issuer), *_crl_issuers(cert)}
                    grew = True
        # The CRLs of those CAs and of the anchor, as a user would download them.
        crls = [path for path, issuer in self.crls.items() if issuer in wanted]
        return Inputs(leaf_path, chosen, self.anchor, crls)


def _key(name: x509.Name) -> tuple[tuple[str, str], ...]:
    # Loose on purpose: gathering by name over-collects rather than miss a CA the test
    # provides; the validator, not this, compares names by RFC 5280's rules.
    return tuple(
        (attribute.oid.dotted_string, " ".join(str(attribute.value).lower().split()))
        for attribute in name
    )


def _crl_issuers(cert: x509.Certificate) -> set[tuple[tuple[str, str], ...]]:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError):
        return set()
    return {
        _key(name.value)
        for point in points
        for name in point.crl_issuer or ()
        if isinstance(name, x509.DirectoryName)
    }
