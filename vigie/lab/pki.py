"""The lab's test PKI: root CA, issuing CA, TLS and signing certificates, and their CRLs.

It generates everything in memory so that the PKI probes can be tested against a realistic
hierarchy whose URLs (CRL distribution points, OCSP, caIssuers) point at the lab's own PKI
server (`vigie.lab.pki_server`, which also holds the OCSP answering logic). Everything is
a pure function of its inputs, the clock included; the only I/O is the optional
`LabPki.write_pem_files` and `LabPki.load`, which reads those files back. It must never
touch the network, and its keys must never be trusted outside the lab: they are throwaway
and stored unencrypted.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from probes.crl import crl_urls

__all__ = [
    "INTERMEDIATE",
    "OCSP_RESPONDER",
    "REMAINING_VALIDITY",
    "RETIRED",
    "ROOT",
    "SIGNING",
    "IssuedCert",
    "KeyType",
    "LabPki",
    "PrivateKey",
    "Revocation",
]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
KeyType = Literal["ec", "rsa"]

ROOT = "root"
INTERMEDIATE = "intermediate"
SIGNING = "smp_signing"  # the SMP's XMLDSig signing certificate
OCSP_RESPONDER = "ocsp_responder"  # delegated responder for the intermediate's certificates
RETIRED = "retired"  # always revoked, so that a CRL is never trivially empty
EXPIRED_SUFFIX = "-expired"  # expired twins are named "<endpoint>-expired"
DNS_SUFFIX = ".edelivery.test"

# Time left on each endpoint's certificate when the PKI is generated: the x509 probe's
# warning and critical thresholds fire on these without any fault injected.
REMAINING_VALIDITY: Mapping[str, timedelta] = MappingProxyType(
    {"ap1": timedelta(days=20), "smp2": timedelta(days=5)}
)
DEFAULT_REMAINING_VALIDITY = timedelta(days=365)
LEAF_LIFETIME = timedelta(days=397)  # the CA/Browser Forum maximum, so leaves look real
CA_AGE = timedelta(days=730)  # CAs predate every leaf, expired twins included


@dataclass(frozen=True, slots=True)
class IssuedCert:
    """A certificate, its key, and the chain a server presents (never the root)."""

    name: str
    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]  # this certificate first, then intermediates

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def chain_pem(self) -> bytes:
        return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in self.chain)


@dataclass(frozen=True, slots=True)
class Revocation:
    serial_number: int
    revoked_at: datetime
    reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise


@dataclass(frozen=True, eq=False)  # identity: two generations are never the same PKI
class LabPki:
    base_url: str
    key_type: KeyType
    generated_at: datetime
    root: IssuedCert
    intermediate: IssuedCert
    signing: IssuedCert
    ocsp_responder: IssuedCert
    retired: IssuedCert
    endpoints: Mapping[str, IssuedCert]
    expired_twins: Mapping[str, IssuedCert]  # keyed by endpoint name
    # A key no certificate vouches for: the CRL_BAD_SIGNATURE fault signs with it.
    impostor_key: PrivateKey = field(repr=False)

    @classmethod
    def generate(
        cls,
        base_url: str,
        endpoints: Sequence[str] = ("smp1", "smp2", "ap1"),
        hostnames: Mapping[str, Sequence[str]] | None = None,
        now: datetime | None = None,
        key_type: KeyType = "ec",
    ) -> LabPki:
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        urls = _Urls(base_url.rstrip("/"))

        root_key = _new_key(key_type)
        root_name = _subject("vigie lab root CA")
        root_cert = (
            _builder(root_name, root_key, now - CA_AGE, now + timedelta(days=3650))
            .issuer_name(root_name)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_CA_KEY_USAGE, critical=True)
            .sign(root_key, hashes.SHA256())
        )
        root = IssuedCert(ROOT, root_cert, root_key, (root_cert,))

        intermediate_key = _new_key(key_type)
        intermediate_builder = (
            _builder(_subject("vigie lab issuing CA"), intermediate_key, now - CA_AGE, now + CA_AGE)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_CA_KEY_USAGE, critical=True)
        )
        intermediate_cert = _issue(intermediate_builder, root, urls)
        intermediate = IssuedCert(
            INTERMEDIATE, intermediate_cert, intermediate_key, (intermediate_cert,)
        )

        def leaf(
            name: str, common_name: str, key: PrivateKey, not_after: datetime, *extensions: _Ext
        ) -> IssuedCert:
            # Backdated as a real certificate of that lifetime would be, never after `now`.
            not_before = min(now - timedelta(hours=1), not_after - LEAF_LIFETIME)
            builder = _builder(_subject(common_name), key, not_before, not_after)
            builder = builder.add_extension(_NOT_A_CA, critical=True)
            for extension, critical in extensions:
                builder = builder.add_extension(extension, critical)
            cert = _issue(builder, intermediate, urls)
            return IssuedCert(name, cert, key, (cert, intermediate_cert))

        def tls_leaf(
            name: str, key: PrivateKey, not_after: datetime, dns_names: Sequence[str]
        ) -> IssuedCert:
            # RSA key exchange needs keyEncipherment; with an EC key TLS only signs.
            rsa_usages = ("key_encipherment",) if isinstance(key, rsa.RSAPrivateKey) else ()
            key_usage = _key_usage("digital_signature", *rsa_usages)
            alt_names: list[x509.GeneralName] = [x509.DNSName(dns) for dns in dns_names]
            alt_names.append(x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")))
            return leaf(
                name,
                dns_names[0],
                key,
                not_after,
                (key_usage, True),
                (_TLS_EXTENDED_KEY_USAGE, False),
                (x509.SubjectAlternativeName(alt_names), False),
            )

        live: dict[str, IssuedCert] = {}
        expired: dict[str, IssuedCert] = {}
        for name in endpoints:
            key = _new_key(key_type)
            dns_names = list((hostnames or {}).get(name, [name + DNS_SUFFIX]))
            remaining = REMAINING_VALIDITY.get(name, DEFAULT_REMAINING_VALIDITY)
            live[name] = tls_leaf(name, key, now + remaining, dns_names)
            # Same subject and key as the live certificate: what a server still presents
            # when nobody deployed the renewal.
            expired[name] = tls_leaf(
                name + EXPIRED_SUFFIX, key, now - timedelta(days=10), dns_names
            )

        one_year = now + timedelta(days=365)
        signing = leaf(
            SIGNING,
            "vigie lab SMP signing",
            _new_key(key_type),
            one_year,
            (_key_usage("digital_signature", "content_commitment"), True),
        )
        responder = leaf(
            OCSP_RESPONDER,
            "vigie lab OCSP responder",
            _new_key(key_type),
            one_year,
            (_key_usage("digital_signature"), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), False),
            # Clients must not ask OCSP about the responder itself (RFC 6960 4.2.2.2.1).
            (x509.OCSPNoCheck(), False),
        )
        retired = tls_leaf(RETIRED, _new_key(key_type), one_year, [RETIRED + DNS_SUFFIX])
        return cls(
            base_url=urls.base,
            key_type=key_type,
            generated_at=now,
            root=root,
            intermediate=intermediate,
            signing=signing,
            ocsp_responder=responder,
            retired=retired,
            endpoints=MappingProxyType(live),
            expired_twins=MappingProxyType(expired),
            impostor_key=_new_key(key_type),
        )

    # -- lookups -------------------------------------------------------------------------

    def endpoint(self, name: str) -> IssuedCert:
        return self.endpoints[name]

    def expired(self, name: str) -> IssuedCert:
        """The already-expired twin of endpoint `name` (for the CERT_EXPIRED fault)."""
        return self.expired_twins[name]

    def ca(self, name: str) -> IssuedCert:
        if name == ROOT:
            return self.root
        if name == INTERMEDIATE:
            return self.intermediate
        raise KeyError(f"no CA named {name!r} (expected {ROOT!r} or {INTERMEDIATE!r})")

    def all_issued(self) -> tuple[IssuedCert, ...]:
        fixed = (self.root, self.intermediate, self.signing, self.ocsp_responder, self.retired)
        return (*fixed, *self.endpoints.values(), *self.expired_twins.values())

    def by_name(self, name: str) -> IssuedCert:
        """Any certificate by name; expired twins are named `<endpoint>-expired`."""
        for issued in self.all_issued():
            if issued.name == name:
                return issued
        raise KeyError(f"no certificate named {name!r}")

    def issuer_of(self, issued: IssuedCert) -> str:
        """Name of the CA that signed `issued` (the root signed itself)."""
        return ROOT if issued.cert.issuer == self.root.cert.subject else INTERMEDIATE

    def issued_serials(self, ca_name: str) -> frozenset[int]:
        """Serials `ca_name` issued (the root's own excluded): OCSP says unknown for others."""
        self.ca(ca_name)
        return frozenset(
            issued.cert.serial_number
            for issued in self.all_issued()
            if issued is not self.root and self.issuer_of(issued) == ca_name
        )

    def baseline_revocations(self) -> tuple[Revocation, ...]:
        """Revocations that hold with no fault injected."""
        retired_at = self.generated_at - timedelta(days=30)
        serial = self.retired.cert.serial_number
        return (Revocation(serial, retired_at, x509.ReasonFlags.superseded),)

    def crl_url(self, ca_name: str) -> str:
        return _Urls(self.base_url).crl(self.ca(ca_name).name)

    def ca_issuers_url(self, ca_name: str) -> str:
        return _Urls(self.base_url).ca_issuers(self.ca(ca_name).name)

    @property
    def ocsp_url(self) -> str:
        return _Urls(self.base_url).ocsp

    def trust_anchor_pem(self) -> bytes:
        return self.root.cert_pem()

    def write_pem_files(self, directory: Path) -> None:
        """Write `<name>.pem`, `<name>.chain.pem` and `<name>.key.pem` for every certificate."""
        directory.mkdir(parents=True, exist_ok=True)
        for issued in self.all_issued():
            (directory / f"{issued.name}.pem").write_bytes(issued.cert_pem())
            (directory / f"{issued.name}.chain.pem").write_bytes(issued.chain_pem())
            key_path = directory / f"{issued.name}.key.pem"
            descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as key_file:
                key_file.write(issued.key_pem())

    @classmethod
    def load(
        cls, directory: Path, base_url: str, endpoints: Sequence[str], now: datetime | None = None
    ) -> LabPki | None:
        """The PKI `write_pem_files` wrote to `directory` for a PKI server at `base_url`, or
        None when it is not there, serves another URL, or a certificate of it has expired
        or lapses within a day (a lab left for weeks gets a new one, at the same paths)."""
        now = now or datetime.now(UTC)

        def issued(name: str) -> IssuedCert:
            chain = x509.load_pem_x509_certificates((directory / f"{name}.chain.pem").read_bytes())
            key = serialization.load_pem_private_key(
                (directory / f"{name}.key.pem").read_bytes(), password=None
            )
            if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                raise ValueError(f"{name}: not an EC or RSA key")
            return IssuedCert(name, chain[0], key, tuple(chain))

        try:
            live = {name: issued(name) for name in endpoints}
            expired = {name: issued(name + EXPIRED_SUFFIX) for name in endpoints}
            fixed = {name: issued(name) for name in (ROOT, INTERMEDIATE, SIGNING, OCSP_RESPONDER)}
            retired = issued(RETIRED)
        except (OSError, ValueError):
            return None
        root = fixed[ROOT]
        if _Urls(base_url.rstrip("/")).crl(ROOT) not in crl_urls(fixed[INTERMEDIATE].cert):
            return None
        if any(c.cert.not_valid_after_utc < now + timedelta(days=1) for c in live.values()):
            return None
        return cls(
            base_url=base_url.rstrip("/"),
            key_type="rsa" if isinstance(root.key, rsa.RSAPrivateKey) else "ec",
            # As `generate` dates the CAs, so that the baseline revocation keeps its date.
            generated_at=root.cert.not_valid_before_utc + CA_AGE,
            root=root,
            intermediate=fixed[INTERMEDIATE],
            signing=fixed[SIGNING],
            ocsp_responder=fixed[OCSP_RESPONDER],
            retired=retired,
            endpoints=MappingProxyType(live),
            expired_twins=MappingProxyType(expired),
            impostor_key=_new_key("rsa" if isinstance(root.key, rsa.RSAPrivateKey) else "ec"),
        )

    # -- CRLs ----------------------------------------------------------------------------

    def build_crl(
        self,
        ca_name: str,
        revoked: Iterable[Revocation],
        this_update: datetime,
        next_update: datetime,
        *,
        crl_number: int,
        signer_key: PrivateKey | None = None,
    ) -> x509.CertificateRevocationList:
        """The CA's CRL listing exactly `revoked`; another `signer_key` forges its signature."""
        ca = self.ca(ca_name)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.cert.subject)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(crl_number), critical=False)
            .add_extension(_authority_key_id(ca), critical=False)
        )
        for revocation in sorted(revoked, key=lambda entry: entry.serial_number):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(revocation.serial_number)
                .revocation_date(revocation.revoked_at)
                .add_extension(x509.CRLReason(revocation.reason), critical=False)
                .build()
            )
        return builder.sign(signer_key or ca.key, hashes.SHA256())


# -- helpers -----------------------------------------------------------------------------

_Ext = tuple[x509.ExtensionType, bool]  # an extension and whether it is critical


@dataclass(frozen=True, slots=True)
class _Urls:
    base: str

    def crl(self, ca_name: str) -> str:
        return f"{self.base}/crl/{ca_name}.crl"

    def ca_issuers(self, ca_name: str) -> str:
        return f"{self.base}/ca/{ca_name}.crt"

    @property
    def ocsp(self) -> str:
        return f"{self.base}/ocsp"


_KEY_USAGES = (
    *("digital_signature", "content_commitment", "key_encipherment", "data_encipherment"),
    *("key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
)


def _key_usage(*usages: str) -> x509.KeyUsage:
    """KeyUsage with exactly `usages` set (x509.KeyUsage wants all nine flags spelled out)."""
    if unknown := set(usages) - set(_KEY_USAGES):
        raise ValueError(f"unknown key usages: {sorted(unknown)}")
    return x509.KeyUsage(**{usage: usage in usages for usage in _KEY_USAGES})


# CAs sign OCSP responses too: the root answers for the intermediate itself.
_CA_KEY_USAGE = _key_usage("digital_signature", "key_cert_sign", "crl_sign")
_NOT_A_CA = x509.BasicConstraints(ca=False, path_length=None)
# Access Points are TLS clients of each other as well as servers.
_TLS_EXTENDED_KEY_USAGE = x509.ExtendedKeyUsage(
    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
)


def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _subject(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vigie lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, key: PrivateKey, not_before: datetime, not_after: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )


def _authority_key_id(issuer: IssuedCert) -> x509.AuthorityKeyIdentifier:
    ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _issue(builder: x509.CertificateBuilder, issuer: IssuedCert, urls: _Urls) -> x509.Certificate:
    """Sign `builder` by `issuer`, adding the links every issued certificate carries."""
    crl_point = x509.DistributionPoint(
        [x509.UniformResourceIdentifier(urls.crl(issuer.name))], None, None, None
    )
    access = [
        (AuthorityInformationAccessOID.OCSP, urls.ocsp),
        (AuthorityInformationAccessOID.CA_ISSUERS, urls.ca_issuers(issuer.name)),
    ]
    return (
        builder.issuer_name(issuer.cert.subject)
        .add_extension(_authority_key_id(issuer), critical=False)
        .add_extension(x509.CRLDistributionPoints([crl_point]), critical=False)
        .add_extension(
            x509.AuthorityInformationAccess(
                x509.AccessDescription(method, x509.UniformResourceIdentifier(url))
                for method, url in access
            ),
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())
    )
