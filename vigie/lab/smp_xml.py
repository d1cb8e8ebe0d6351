"""The lab SMP's documents: ServiceGroup and XMLDSig-signed SignedServiceMetadata.

Pure functions over identifiers, URLs, certificates and keys, in the Peppol SMP 1.x
(BusDox) format: `smp:` elements in the publishing namespace, identifiers in the BusDox
identifiers namespace, the endpoint URL in a WS-Addressing `EndpointReference/Address`,
the signature enveloped as the last child of `SignedServiceMetadata`. This module must
never do I/O, and never relax the signature (SHA-256 digests and signatures only).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type hints

# From the submodules: the package's __init__ re-exports without __all__ (mypy --strict).
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from probes.naming import ParticipantId

__all__ = [
    "DOCUMENT_SCHEME",
    "DOCUMENT_TYPES",
    "IDENTIFIERS_NS",
    "PROCESS_ID",
    "PROCESS_SCHEME",
    "SMP_NS",
    "TRANSPORT_PROFILE",
    "WSA_NS",
    "SigningKey",
    "identifier_path",
    "service_group_xml",
    "signed_service_metadata_xml",
]

SMP_NS = "http://busdox.org/serviceMetadata/publishing/1.0/"
IDENTIFIERS_NS = "http://busdox.org/transport/identifiers/1.0/"
WSA_NS = "http://www.w3.org/2005/08/addressing"
_NSMAP = {"smp": SMP_NS, "ids": IDENTIFIERS_NS, "wsa": WSA_NS}

DOCUMENT_SCHEME = "busdox-docid-qns"
_BILLING_CUSTOMIZATION = (
    "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
)
# Every lab participant accepts these two document types (`SCHEME::VALUE`).
DOCUMENT_TYPES: tuple[str, ...] = (
    f"{DOCUMENT_SCHEME}::urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice"
    f"##{_BILLING_CUSTOMIZATION}",
    f"{DOCUMENT_SCHEME}::urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::CreditNote"
    f"##{_BILLING_CUSTOMIZATION}",
)
PROCESS_SCHEME = "cenbii-procid-ubl"
PROCESS_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
TRANSPORT_PROFILE = "peppol-transport-as4-v2_0"
_TECHNICAL_CONTACT = "mailto:lab@vigie.invalid"

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def identifier_path(identifier: str) -> str:
    """`identifier` as one URL path segment: everything but RFC 3986 unreserved encoded.

    So `iso6523-actorid-upis::9915:x` becomes `iso6523-actorid-upis%3A%3A9915%3Ax`, and
    the `#` of document identifiers can never be taken for a fragment.
    """
    return quote(identifier, safe="")


def service_group_xml(
    participant: ParticipantId,
    base_url: str,
    document_types: Iterable[str] = DOCUMENT_TYPES,
) -> bytes:
    """The ServiceGroup of `participant`, whose references point under `base_url`."""
    root = _element(None, "ServiceGroup")
    _identifier(root, "ParticipantIdentifier", str(participant))
    collection = _element(root, "ServiceMetadataReferenceCollection")
    participant_path = f"{base_url.rstrip('/')}/{identifier_path(str(participant))}"
    for document_type in document_types:
        href = f"{participant_path}/services/{identifier_path(document_type)}"
        _element(collection, "ServiceMetadataReference", href=href)
    return _serialize(root)


def signed_service_metadata_xml(
    participant: ParticipantId,
    document_type: str,
    access_point_url: str,
    access_point_cert: x509.Certificate,
    signing_key: SigningKey,
    signing_cert: x509.Certificate,
    signing_chain: Sequence[x509.Certificate] = (),
) -> bytes:
    """SignedServiceMetadata for one document type, enveloped-signed as an SMP does.

    CPU-bound (canonicalization and a private-key operation): callers cache the result.
    """
    root = _element(None, "SignedServiceMetadata")
    information = _element(_element(root, "ServiceMetadata"), "ServiceInformation")
    _identifier(information, "ParticipantIdentifier", str(participant))
    _identifier(information, "DocumentIdentifier", document_type)
    process = _element(_element(information, "ProcessList"), "Process")
    _identifier(process, "ProcessIdentifier", f"{PROCESS_SCHEME}::{PROCESS_ID}")
    endpoint = _element(
        _element(process, "ServiceEndpointList"), "Endpoint", transportProfile=TRANSPORT_PROFILE
    )
    reference = etree.SubElement(endpoint, f"{{{WSA_NS}}}EndpointReference")
    etree.SubElement(reference, f"{{{WSA_NS}}}Address").text = access_point_url
    _element(endpoint, "RequireBusinessLevelSignature").text = "false"
    _element(endpoint, "Certificate").text = base64.b64encode(
        access_point_cert.public_bytes(Encoding.DER)
    ).decode("ascii")
    _element(endpoint, "ServiceDescription").text = "vigie lab Access Point"
    _element(endpoint, "TechnicalContactUrl").text = _TECHNICAL_CONTACT

    signer = XMLSigner(
        signature_algorithm=_signature_method(signing_key),
        digest_algorithm=DigestAlgorithm.SHA256,
        # Inclusive C14N 1.0 over the whole document (reference URI ""), as Peppol SMPs sign.
        c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    signed = signer.sign(root, key=signing_key, cert=[signing_cert, *signing_chain])
    return _serialize(signed)


def _signature_method(key: SigningKey) -> SignatureMethod:
    if isinstance(key, rsa.RSAPrivateKey):
        return SignatureMethod.RSA_SHA256
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return SignatureMethod.ECDSA_SHA256
    raise TypeError(f"SMP signing key must be RSA or EC, not {type(key).__name__}")


def _element(parent: Any, local_name: str, **attributes: str) -> Any:
    """A `smp:` element, appended to `parent` (or a new root when `parent` is None)."""
    tag = f"{{{SMP_NS}}}{local_name}"
    if parent is None:
        return etree.Element(tag, attributes, nsmap=_NSMAP)
    return etree.SubElement(parent, tag, attributes)


def _identifier(parent: Any, local_name: str, identifier: str) -> None:
    """An `ids:` identifier element from `SCHEME::VALUE` (split at the first `::`)."""
    scheme, _, value = identifier.partition("::")
    element = etree.SubElement(parent, f"{{{IDENTIFIERS_NS}}}{local_name}", scheme=scheme)
    element.text = value


def _serialize(root: Any) -> bytes:
    result: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return result
