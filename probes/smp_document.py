"""SMP documents: hardened XML parsing, ServiceGroup and SignedServiceMetadata contents.

Two formats: Peppol SMP 1.x (BusDox namespaces, the endpoint URL in a WS-Addressing
`EndpointReference/Address`) and OASIS BDXR SMP 1.0 (one namespace, `EndpointURI`); a
document of OASIS SMP 2.0 or of the 2014 BDXR draft is `smp_unsupported_format`, by name. The
signature is verified with signxml (enveloped, the signing certificate from KeyInfo), then
that certificate is judged against the configured trust anchors with `cryptography`.

Pure functions over bytes, certificates and a time: no I/O. Parsing never resolves
entities, never loads a DTD or anything from the network, and refuses a DOCTYPE outright
(SMP documents have none; it is how XML bombs and external entities arrive). Problems
raise `DocumentError` carrying the `FailureReason`, which the prober turns into a result.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type hints

# From the submodules: the package's __init__ re-exports without __all__ (mypy --strict).
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from probes._base import HIDDEN, FailureReason
from probes.certs import CertificateFacts, name_text
from vocab.errors import TargetError

__all__ = [
    "BDXR_NS",
    "BUSDOX_NS",
    "DocumentError",
    "SmpEndpoint",
    "SmpRedirect",
    "Verified",
    "document_types",
    "endpoints",
    "names_signer",
    "parse_xml",
    "redirect_of",
    "verify_signature",
]

BUSDOX_NS = "http://busdox.org/serviceMetadata/publishing/1.0/"
BUSDOX_IDS_NS = "http://busdox.org/transport/identifiers/1.0/"
WSA_NS = "http://www.w3.org/2005/08/addressing"
BDXR_NS = "http://docs.oasis-open.org/bdxr/ns/SMP/2016/05"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"

_XML_TYPES = frozenset({"text/xml", "application/xml"})
_MAX_CHAIN_DEPTH = 8


class DocumentError(TargetError):
    def __init__(
        self, reason: FailureReason, detail: str, signer: x509.Certificate | None = None
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        # The signer of a verified signature that was judged wrong (expired, untrusted).
        self.signer = signer


@dataclass(frozen=True, slots=True)
class SmpEndpoint:
    """One endpoint published in signed metadata: what the PKI and endpoint checks watch."""

    participant: str  # SCHEME::VALUE
    document_type: str  # SCHEME::VALUE
    process: str  # SCHEME::VALUE
    transport_profile: str
    url: str
    # The published certificate's facts (None when it does not parse: the PKI checks say
    # why); its bytes as published, for the PKI checks to judge.
    certificate: CertificateFacts | None
    certificate_der: bytes = field(metadata=HIDDEN)


@dataclass(frozen=True, slots=True)
class SmpRedirect:
    """Signed metadata that sends the client to another SMP's signed metadata, once."""

    url: str
    # Whom the other SMP's signer is, in the publisher's words (a subject, mostly).
    certificate_uid: str


@dataclass(frozen=True, slots=True)
class Verified:
    document: Any  # the signed element, the signature removed: read endpoints from it only
    signer: x509.Certificate
    algorithm: str  # the SignatureMethod URI
    # Why the verified signature is weak (SHA-1), "" when it is not.
    weakness: str = ""


# Every algorithm signxml knows is accepted for the check of the bytes: a signature that
# verifies is never "bad"; SHA-1 is judged after, as a weakness of its own.
_ANY_SIGNATURE_METHOD = frozenset(SignatureMethod)
_ANY_DIGEST = frozenset(DigestAlgorithm)
_SHA1_URIS = frozenset(
    {
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
        "http://www.w3.org/2000/09/xmldsig#sha1",
    }
)


@dataclass(frozen=True, slots=True)
class _Format:
    name: str
    ns: str  # the SMP elements
    ids_ns: str  # the identifier elements

    def tag(self, local: str) -> str:
        return f"{{{self.ns}}}{local}"

    def id_tag(self, local: str) -> str:
        return f"{{{self.ids_ns}}}{local}"


_FORMATS = {
    BUSDOX_NS: _Format("Peppol SMP 1.x", BUSDOX_NS, BUSDOX_IDS_NS),
    BDXR_NS: _Format("OASIS BDXR SMP 1.0", BDXR_NS, BDXR_NS),
}
# SMP documents that real SMPs serve and vigie does not read, by namespace (or its
# start): named in the reason's detail, so that nobody takes them for broken XML.
_UNSUPPORTED_FORMATS = {
    "http://docs.oasis-open.org/bdxr/ns/SMP/2/": "OASIS SMP 2.0",
    "http://docs.oasis-open.org/bdxr/ns/SMP/2014/07": "the OASIS BDXR SMP draft of 2014-07",
}


class _Verifier(XMLVerifier):
    """signxml's verifier, its SignedInfo canonicalized as the root of a document of its own.

    libxml2 (2.14, the one lxml ships) canonicalizes an element that is not its document's
    root wrongly: below a default namespace it writes `xmlns=""` on the grandchildren
    (`<SignedInfo xmlns="...dsig#"><Reference><Transforms xmlns="">`). signxml
    canonicalizes SignedInfo in place, so every signature whose `Signature` declares the
    default namespace instead of a `ds:` prefix (what JAXB-based SMPs write) failed to
    verify although it is good. Serialized alone, an element carries every namespace in
    scope, which is what inclusive C14N needs on its apex; signxml already does this for
    the references it digests. Exclusive C14N is not affected. signxml offers no hook but
    its `_c14n`; the real-document tests (tests/probes/real_smp_documents) fail if it moves.
    """

    def _c14n(self, nodes: Any, algorithm: Any, inclusive_ns_prefixes: Any = None) -> bytes:
        if not str(algorithm.value).startswith(_EXCLUSIVE_C14N):
            listed = nodes if isinstance(nodes, list) else [nodes]
            nodes = [_as_root(node) for node in listed]
        return bytes(super()._c14n(nodes, algorithm, inclusive_ns_prefixes=inclusive_ns_prefixes))


_EXCLUSIVE_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
_XML_NS = "http://www.w3.org/XML/1998/namespace"


def _as_root(node: Any) -> Any:
    """`node` as the root of a new document, every namespace in scope declared on it.

    An ancestor's `xml:` attributes would be inherited by the apex of inclusive C14N and
    are lost by the copy: such a node (never seen in SMP documents) stays where it is.
    """
    if not isinstance(node, etree._Element) or node.getparent() is None:
        return node
    for ancestor in node.iterancestors():
        if any(str(name).startswith(f"{{{_XML_NS}}}") for name in ancestor.attrib):
            return node
    return etree.fromstring(etree.tostring(node), _parser())


def _parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
    )


def parse_xml(body: bytes, content_type: str | None, expected_root: str) -> Any:
    """The root element of an SMP document named `expected_root`, in either format."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type and media_type not in _XML_TYPES and not media_type.endswith("+xml"):
        raise DocumentError(FailureReason.SMP_NOT_XML, f"content type {media_type[:60]}")
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].lower()
    if not start.startswith(b"<") or start.startswith((b"<html", b"<!doctype html")):
        raise DocumentError(FailureReason.SMP_NOT_XML, f"the body starts with {start[:15]!r}")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise DocumentError(FailureReason.SMP_MALFORMED_XML, f"not well-formed: {exc}") from None
    if root is None:
        raise DocumentError(FailureReason.SMP_MALFORMED_XML, "no root element")
    if root.getroottree().docinfo.doctype:
        raise DocumentError(FailureReason.SMP_MALFORMED_XML, "DOCTYPE not allowed")
    _format_of(root, expected_root)
    return root


def document_types(service_group: Any) -> list[str]:
    """The document types a ServiceGroup lists (`SCHEME::VALUE`), in its order.

    Taken from each reference's href: the part after `/services/`, percent-decoded. The
    prober builds its own URLs from them, as an Access Point does, so a ServiceGroup that
    advertises another host (a common misconfiguration) is not followed there. Some SMPs
    encode the whole path, `/services/` included (`%2fservices%2f`): the marker is then
    found in the decoded href.
    """
    form = _format_of(service_group, "ServiceGroup")
    found = []
    references = service_group.iterfind(
        f"{form.tag('ServiceMetadataReferenceCollection')}/{form.tag('ServiceMetadataReference')}"
    )
    for reference in references:
        href = reference.get("href") or ""
        _, marker, encoded = href.rpartition("/services/")
        decoded = unquote(encoded)
        if not marker:  # decoded once only: a `%` of the identifier stays one
            _, marker, decoded = unquote(href).rpartition("/services/")
        if not marker or not decoded:
            raise DocumentError(
                FailureReason.SMP_MALFORMED_XML, f"reference without /services/: {href[:120]!r}"
            )
        found.append(decoded)
    return found


def redirect_of(signed_metadata: Any) -> SmpRedirect | None:
    """The Redirect a (Signed)ServiceMetadata holds instead of its ServiceInformation."""
    form = _format_of(signed_metadata, "SignedServiceMetadata")
    redirect = _service_metadata(signed_metadata, form).find(form.tag("Redirect"))
    if redirect is None:
        return None
    url = (redirect.get("href") or "").strip()
    if not url:
        raise DocumentError(FailureReason.SMP_MALFORMED_XML, "a Redirect without href")
    uid = (redirect.findtext(form.tag("CertificateUID")) or "").strip()
    return SmpRedirect(url, uid[:300])


_UNESCAPED_SEPARATOR = re.compile(r"(?<!\\)[,+]")
_ESCAPE = re.compile(r"\\(.)")


def names_signer(certificate_uid: str, signer: x509.Certificate) -> bool:
    """Whether a Redirect's CertificateUID names `signer`, the other SMP's signer.

    SMPs write the subject's distinguished name, in RFC 4514's order or X.500's and with
    their own attribute keywords, or one value of it (the CN): the values are compared,
    whatever their order and keywords. An empty CertificateUID names nobody in particular.
    """
    uid = certificate_uid.strip()
    if not uid:
        return True
    values = {str(attribute.value) for attribute in signer.subject}
    named = set()
    for part in _UNESCAPED_SEPARATOR.split(uid):
        keyword, equals, value = part.partition("=")
        named.add(_ESCAPE.sub(r"\1", value.strip() if equals else keyword.strip()))
    return named <= values if len(named) == 1 else named == values


def endpoints(signed_metadata: Any) -> list[SmpEndpoint]:
    """Every endpoint of a (Signed)ServiceMetadata, for every process it lists."""
    form = _format_of(signed_metadata, "SignedServiceMetadata")
    redirect = redirect_of(signed_metadata)
    if redirect is not None:
        detail = f"a redirect to {redirect.url[:120]} (read it with redirect_of)"
        raise DocumentError(FailureReason.SMP_NO_ENDPOINT, detail)
    information = _service_metadata(signed_metadata, form).find(form.tag("ServiceInformation"))
    if information is None:
        raise DocumentError(FailureReason.SMP_MALFORMED_XML, "no ServiceInformation")
    participant = _identifier(information, form, "ParticipantIdentifier")
    document_type = _identifier(information, form, "DocumentIdentifier")
    found = []
    for process in information.iterfind(f"{form.tag('ProcessList')}/{form.tag('Process')}"):
        process_id = _identifier(process, form, "ProcessIdentifier")
        for endpoint in process.iterfind(
            f"{form.tag('ServiceEndpointList')}/{form.tag('Endpoint')}"
        ):
            found.append(
                SmpEndpoint(
                    participant=participant,
                    document_type=document_type,
                    process=process_id,
                    transport_profile=endpoint.get("transportProfile") or "",
                    url=_endpoint_url(endpoint, form),
                    certificate=CertificateFacts.of_der(der := _certificate(endpoint, form)),
                    certificate_der=der,
                )
            )
    if not found:
        raise DocumentError(FailureReason.SMP_NO_ENDPOINT, f"no endpoint for {document_type}")
    return found


def _service_metadata(signed_metadata: Any, form: _Format) -> Any:
    metadata = signed_metadata.find(form.tag("ServiceMetadata"))
    if metadata is None:
        raise DocumentError(FailureReason.SMP_MALFORMED_XML, "no ServiceMetadata")
    return metadata


def verify_signature(
    signed_metadata: Any, anchors: Sequence[x509.Certificate] | None, now: datetime
) -> Verified:
    """Verify the enveloped signature first, then judge its signer at `now`.

    The order makes each reason say one thing: an unsigned or tampered document is
    `smp_bad_signature` whoever signed it and whenever (an expired signer must not hide
    tampering), a signer outside its validity at `now` `smp_signer_expired`, a signer
    that does not chain to the anchors `smp_untrusted_signer`. A verified signature made
    with SHA-1 comes back with its `weakness` named; the caller decides what it means.
    """
    signature = signed_metadata.find(f"{{{DSIG_NS}}}Signature")
    if signature is None:
        raise DocumentError(FailureReason.SMP_BAD_SIGNATURE, "not signed (no ds:Signature)")
    certificates = _key_info_certificates(signature)
    signer = _signer(certificates)
    # The bytes are checked as of the signer's own validity, so that signxml judges only
    # the signature; the signer is judged at `now` below.
    config = SignatureConfiguration(
        location="./",
        expect_references=1,
        verification_time=signer.not_valid_before_utc,
        signature_methods=_ANY_SIGNATURE_METHOD,
        digest_algorithms=_ANY_DIGEST,
    )
    try:
        result = _Verifier().verify(signed_metadata, x509_cert=signer, expect_config=config)
    except SignXMLException as exc:
        raise DocumentError(FailureReason.SMP_BAD_SIGNATURE, _first_line(exc)) from None
    assert not isinstance(result, list)  # expect_references=1 gives one result
    if not signer.not_valid_before_utc <= now < signer.not_valid_after_utc:
        raise DocumentError(
            FailureReason.SMP_SIGNER_EXPIRED,
            f"signer {_subject(signer)} is valid {signer.not_valid_before_utc:%Y-%m-%d} "
            f"to {signer.not_valid_after_utc:%Y-%m-%d}",
            signer,
        )
    if anchors is not None:
        others = [certificate for certificate in certificates if certificate is not signer]
        _check_trust(signer, others, anchors, now)
    algorithm = _algorithm(signature, "SignatureMethod")
    digest = _algorithm(signature, f"Reference/{{{DSIG_NS}}}DigestMethod")
    weak = [uri.rpartition("#")[2] for uri in (algorithm, digest) if uri in _SHA1_URIS]
    weakness = f"signed with {' and '.join(weak)} (verified; SHA-1 is weak)" if weak else ""
    return Verified(result.signed_xml, signer, algorithm, weakness)


def _algorithm(signature: Any, path: str) -> str:
    element = signature.find(f"{{{DSIG_NS}}}SignedInfo/{{{DSIG_NS}}}{path}")
    return "" if element is None else str(element.get("Algorithm") or "")[:200]


def _check_trust(
    signer: x509.Certificate,
    intermediates: list[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    now: datetime,
) -> None:
    # A signing certificate carries no serverAuth/clientAuth usage: only the CAs' rules
    # apply to the path, and the signer must be allowed to sign.
    ee_policy = ExtensionPolicy.permit_all()
    builder = (
        PolicyBuilder()
        .store(Store(list(anchors)))
        .time(now)
        .max_chain_depth(_MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
    )
    try:
        builder.build_client_verifier().verify(signer, intermediates)
    except (VerificationError, ValueError) as exc:
        raise DocumentError(
            FailureReason.SMP_UNTRUSTED_SIGNER,
            f"signer {_subject(signer)} does not chain to the trust anchors: {exc}",
            signer,
        ) from None


def _key_info_certificates(signature: Any) -> list[x509.Certificate]:
    found = []
    for element in signature.iterfind(
        f"{{{DSIG_NS}}}KeyInfo/{{{DSIG_NS}}}X509Data/{{{DSIG_NS}}}X509Certificate"
    ):
        try:
            der = base64.b64decode("".join((element.text or "").split()), validate=True)
            found.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError) as exc:
            raise DocumentError(
                FailureReason.SMP_BAD_SIGNATURE, f"unreadable KeyInfo certificate: {exc}"
            ) from None
    if not found:
        raise DocumentError(FailureReason.SMP_BAD_SIGNATURE, "no X509Certificate in KeyInfo")
    return found


def _signer(certificates: list[x509.Certificate]) -> x509.Certificate:
    """The certificate that issued none of the others: the end of the chain KeyInfo holds.

    XMLDSig implies no order among X509Certificate elements; SMPs put the signer first.
    """
    issuers = {certificate.issuer for certificate in certificates}
    for certificate in certificates:
        if certificate.subject not in issuers or certificate.subject == certificate.issuer:
            return certificate
    return certificates[0]


def _format_of(root: Any, expected: str) -> _Format:
    namespace, _, local = str(root.tag).lstrip("{").partition("}")
    form = _FORMATS.get(namespace)
    for start, name in _UNSUPPORTED_FORMATS.items():
        if form is None and namespace.startswith(start):
            raise DocumentError(
                FailureReason.SMP_UNSUPPORTED_FORMAT,
                f"{name} ({local[:40]}) is not supported: vigie reads "
                + " and ".join(known.name for known in _FORMATS.values()),
            )
    if form is None or local != expected:
        raise DocumentError(
            FailureReason.SMP_MALFORMED_XML,
            f"expected an SMP {expected}, got {str(root.tag)[:120]}",
        )
    return form


def _identifier(parent: Any, form: _Format, local: str) -> str:
    element = parent.find(form.id_tag(local))
    value = "" if element is None else (element.text or "").strip()
    if not value:
        raise DocumentError(FailureReason.SMP_MALFORMED_XML, f"no {local}")
    scheme = element.get("scheme")
    return f"{scheme}::{value}" if scheme else value


def _endpoint_url(endpoint: Any, form: _Format) -> str:
    if form.ns == BUSDOX_NS:
        url = endpoint.findtext(f"{{{WSA_NS}}}EndpointReference/{{{WSA_NS}}}Address")
    else:
        url = endpoint.findtext(form.tag("EndpointURI"))
    if not url or not url.strip():
        raise DocumentError(FailureReason.SMP_MALFORMED_XML, "an Endpoint without URL")
    return str(url).strip()


def _certificate(endpoint: Any, form: _Format) -> bytes:
    text = endpoint.findtext(form.tag("Certificate")) or ""
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
    except binascii.Error:
        der = b""
    if not der:
        raise DocumentError(FailureReason.SMP_MALFORMED_XML, "an Endpoint without Certificate")
    return der


def _subject(certificate: x509.Certificate) -> str:
    return name_text(certificate.subject)[:120]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
