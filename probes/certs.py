"""Reading certificates from bytes, files and directories (PEM or DER), for every prober.

Pure functions over bytes and paths. Bad input (truncated DER, PEM with garbage, an empty
file) raises `CertificateParseError` with a short reason that probers turn into a
`FailureReason`; nothing here fetches anything over the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import AfterValidator

from vocab.errors import InputError
from vocab.files import FileRefused, read_regular_file

__all__ = [
    "CERTIFICATE_SUFFIXES",
    "CertificateFacts",
    "CertificateParseError",
    "CertificatesPath",
    "NoCertificate",
    "name_text",
    "parse_certificates",
    "read_certificates",
]

CERTIFICATE_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".der"})
# Certificates files bigger than this are not certificates (a bundle of 1,000 is ~2 MB).
MAX_FILE_BYTES = 8 * 1024 * 1024

_PEM_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n(?:.*?\r?\n)??-----END CERTIFICATE-----", re.DOTALL
)


# OpenSSL's short names (`openssl x509 -nameopt RFC2253`) for the attributes cryptography
# would print as dotted OIDs: Peppol and eDelivery subjects carry serialNumber, and
# eIDAS-style ones organizationIdentifier, title and given names.
_ATTRIBUTE_NAMES = {
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.TITLE: "title",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN",
    NameOID.INITIALS: "initials",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
}


def name_text(name: x509.Name) -> str:
    """A distinguished name as RFC 4514 writes it (most specific first), with the
    attribute names OpenSSL prints, so that it reads as `openssl x509 -subject` does."""
    return name.rfc4514_string(_ATTRIBUTE_NAMES)


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What a person reading a finding needs of a certificate (dates in UTC)."""

    subject: str
    issuer: str
    serial: str  # hex, as `openssl x509 -serial` prints it (upper case, whole bytes)
    not_before: datetime
    not_after: datetime

    @classmethod
    def of(cls, certificate: x509.Certificate) -> CertificateFacts:
        return cls(
            subject=name_text(certificate.subject)[:300],
            issuer=name_text(certificate.issuer)[:300],
            serial=_openssl_serial(certificate.serial_number),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
        )

    @classmethod
    def of_der(cls, der: bytes) -> CertificateFacts | None:
        """The facts of DER bytes published by a peer; None when they do not parse."""
        try:
            return cls.of(x509.load_der_x509_certificate(der))
        except ValueError:
            return None


def _openssl_serial(number: int) -> str:
    digits = format(number, "X")
    return digits.zfill(len(digits) + len(digits) % 2)


class CertificateParseError(InputError, ValueError):
    """The bytes hold no usable certificate; the message says why in a few words."""


class NoCertificate(CertificateParseError):
    """The bytes hold no certificate at all (PEM of a private key or a CSR, an empty
    file), as opposed to a certificate that is broken."""


def parse_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in `data`: one DER certificate, or any number of PEM blocks."""
    if not data.strip():
        raise NoCertificate("empty")
    if b"-----BEGIN" in data:
        blocks = _PEM_BLOCK.findall(data)
        if not blocks:
            raise NoCertificate("PEM without a CERTIFICATE block")
        try:
            return [x509.load_pem_x509_certificate(block) for block in blocks]
        except ValueError as exc:
            raise CertificateParseError(f"malformed PEM certificate: {exc}") from None
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        # Not skipped even in a directory: a broken DER certificate looks just like this.
        raise CertificateParseError(f"not a DER or PEM certificate: {exc}") from None


def read_certificates(path: Path, skipped: list[str] | None = None) -> list[x509.Certificate]:
    """Certificates of a file, or of every certificate file directly inside a directory.

    In a directory, a file that holds no certificate (a private key beside its
    certificate, a CSR) is skipped, and its name added to `skipped` when given; a broken
    certificate is an error everywhere, and so is a directory without any certificate."""
    directory = path.is_dir()
    files = sorted(_certificate_files(path)) if directory else [path]
    if not files:
        raise CertificateParseError(f"no certificate files ({', '.join(CERTIFICATE_SUFFIXES)})")
    found: list[x509.Certificate] = []
    for file in files:
        try:
            data = read_regular_file(file, MAX_FILE_BYTES)
        except FileRefused as exc:
            raise CertificateParseError(f"{file.name}: {exc}") from None
        except OSError as exc:
            raise CertificateParseError(f"{file}: {exc.strerror or exc}") from None
        try:
            found.extend(parse_certificates(data))
        except NoCertificate as exc:
            if not directory:
                raise NoCertificate(f"{file.name}: {exc}") from None
            if skipped is not None:
                skipped.append(file.name)
        except CertificateParseError as exc:
            raise CertificateParseError(f"{file.name}: {exc}") from None
    if not found:
        raise NoCertificate(f"no certificate in the {len(files)} files of {path}")
    return found


def _certificate_files(directory: Path) -> Iterator[Path]:
    for entry in directory.iterdir():
        if entry.is_file() and entry.suffix.lower() in CERTIFICATE_SUFFIXES:
            yield entry


def _readable_certificates(path: Path) -> Path:
    # Read at load so `vigie config check` reports it; a later change of the file is a
    # run's failure reason, not a crash.
    try:
        read_certificates(path)
    except CertificateParseError as exc:
        raise ValueError(str(exc)) from None
    return path


# A configuration value naming a certificate file or directory that must be readable.
CertificatesPath = Annotated[Path, AfterValidator(_readable_certificates)]
