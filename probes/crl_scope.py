"""Whether RFC 5280 lets a CRL be used, and for which certificates (RFC 5280 5.2, 5.3, 6.3.3).

Pure functions over cryptography's CRL and certificate objects, for `probes.crl`: a CRL
with an unrecognised critical extension, a delta CRL, an indirect CRL or a signer without
cRLSign must not be used at all (`unusable`); a usable one speaks only for the
certificates its issuer and issuing distribution point cover (`not_covered`). Nothing here
fetches, verifies a signature or decides that a certificate is revoked.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from probes.cert_checks import UNREADABLE_EXTENSION, is_ca
from probes.certs import name_text

__all__ = ["not_covered", "scope_of", "unusable"]

# CRL extensions this check understands (RFC 5280 5.2); deltaCRLIndicator is refused
# on its own. Any other critical one forbids using the CRL (RFC 5280 5.2, 6.3.3).
_CRL_EXTENSIONS = frozenset(
    {
        ExtensionOID.CRL_NUMBER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.ISSUING_DISTRIBUTION_POINT,
        ExtensionOID.FRESHEST_CRL,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    }
)


def unusable(
    crl: x509.CertificateRevocationList, issuers: tuple[x509.Certificate, ...], entries: str
) -> str:
    """Why RFC 5280 forbids using this CRL for any certificate, or "" when it may be used."""
    try:
        extensions = list(crl.extensions)
    except ValueError as exc:
        return f"an extension cannot be parsed: {str(exc)[:120]}"
    for extension in extensions:
        if isinstance(extension.value, x509.DeltaCRLIndicator):
            base = extension.value.crl_number
            return f"a delta CRL (base CRL number {base}), not a complete CRL"
        if extension.critical and extension.oid not in _CRL_EXTENSIONS:
            return f"critical extension {extension.oid.dotted_string}, not understood"
    if entries:
        return entries
    scope = scope_of(crl)
    if scope is not None and scope.indirect_crl:
        return "an indirect CRL (it lists other issuers' certificates): not used by this check"
    if scope is not None and scope.only_contains_attribute_certs:
        return "it covers attribute certificates only"
    signer = next(cert for cert in issuers if cert.subject == crl.issuer)
    try:
        usage = signer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return ""
    except (ValueError, x509.DuplicateExtension) as exc:
        return f"the signer's keyUsage cannot be parsed: {exc}"
    if not usage.crl_sign:
        return f"its signer {name_text(crl.issuer)} lacks cRLSign in its keyUsage"
    return ""


def scope_of(crl: x509.CertificateRevocationList) -> x509.IssuingDistributionPoint | None:
    try:
        return crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except UNREADABLE_EXTENSION:
        return None


def not_covered(
    crl: x509.CertificateRevocationList,
    scope: x509.IssuingDistributionPoint | None,
    cert: x509.Certificate,
    listed: bool,
) -> str:
    """Why this CRL cannot give `cert`'s status, or "" when it can (RFC 5280 6.3.3)."""
    if cert.issuer != crl.issuer:
        return f"issued by {name_text(cert.issuer)}, not by this CRL's issuer"
    if scope is None:
        return ""
    if scope.only_contains_user_certs and is_ca(cert):
        return "the CRL covers end-entity certificates only"
    if scope.only_contains_ca_certs and not is_ca(cert):
        return "the CRL covers CA certificates only"
    if scope.full_name and not set(scope.full_name) & set(_point_names(cert)):
        return "the CRL's issuing distribution point is not one the certificate names"
    if scope.only_some_reasons and not listed:
        reasons = ", ".join(sorted(flag.value for flag in scope.only_some_reasons))
        return f"the CRL covers only some reasons ({reasons})"
    return ""


def _point_names(cert: x509.Certificate) -> list[x509.GeneralName]:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except UNREADABLE_EXTENSION:
        return []
    return [name for point in points for name in point.full_name or ()]
