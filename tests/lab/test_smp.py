"""The lab SMP over real HTTPS on 127.0.0.1: documents, signatures, health, faults."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree  # type: ignore[import-untyped]
from signxml.exceptions import InvalidSignature
from signxml.verifier import VerifyResult, XMLVerifier

from tests.lab.https_helpers import (
    FAULT_CASES,
    FaultCase,
    ThrowawayPki,
    check_expired_certificate_switch,
    check_fault,
    check_saturation,
    make_throwaway_pki,
    peer_certificate,
)
from vigie.lab.faults import Faults
from vigie.lab.smp import LabSmp
from vigie.lab.smp_xml import IDENTIFIERS_NS, SMP_NS, WSA_NS
from vigie.lab.tls import switchable_ssl_context

HOSTED = "iso6523-actorid-upis::9915:lab0000001"
# A value with "/" is reachable only percent-encoded: the SMP splits the raw path first.
HOSTED_WITH_SLASH = "iso6523-actorid-upis::9915:lab/0000002"
HOSTED_PATH = "/iso6523-actorid-upis%3A%3A9915%3Alab0000001"
INVOICE_PATH = (
    "busdox-docid-qns%3A%3Aurn%3Aoasis%3Anames%3Aspecification%3Aubl%3Aschema%3Axsd%3A"
    "Invoice-2%3A%3AInvoice%23%23urn%3Acen.eu%3Aen16931%3A2017%23compliant%23urn%3Afdc%3A"
    "peppol.eu%3A2017%3Apoacc%3Abilling%3A3.0%3A%3A2.1"
)
CREDIT_NOTE_PATH = INVOICE_PATH.replace("Invoice-2%3A%3AInvoice", "CreditNote-2%3A%3ACreditNote")
AP_URL = "https://127.0.0.1:9/as4"
NS = {"smp": SMP_NS, "ids": IDENTIFIERS_NS, "wsa": WSA_NS}


@pytest.fixture(scope="module")
def pki() -> ThrowawayPki:
    return make_throwaway_pki()


def make_smp(pki: ThrowawayPki, *, ec: bool = False, cache_size: int = 4096) -> LabSmp:
    return LabSmp(
        "smp1",
        Faults(),
        lambda participant: participant in {HOSTED, HOSTED_WITH_SLASH},
        pki.tls,
        pki.expired_tls,
        pki.ec_signing_key if ec else pki.rsa_signing_key,
        pki.ec_signing_cert if ec else pki.rsa_signing_cert,
        signing_chain=[pki.intermediate_cert],
        access_point_url=AP_URL,
        access_point_cert=pki.access_point_cert,
        cache_size=cache_size,
    )


@pytest.fixture
async def smp(pki: ThrowawayPki) -> AsyncIterator[LabSmp]:
    async with make_smp(pki) as server:
        yield server


async def get(pki: ThrowawayPki, url: str) -> tuple[int, bytes]:
    async with pki.client() as client:
        response = await client.get(url)
    return response.status_code, response.content


# ---- ServiceGroup ----------------------------------------------------------------------


async def test_service_group_lists_both_document_types_with_encoded_hrefs(
    smp: LabSmp, pki: ThrowawayPki
) -> None:
    status, body = await get(pki, smp.url + HOSTED_PATH)
    assert status == 200
    root = etree.fromstring(body)
    assert root.tag == f"{{{SMP_NS}}}ServiceGroup"
    participant = root.find("ids:ParticipantIdentifier", NS)
    assert participant.get("scheme") == "iso6523-actorid-upis"
    assert participant.text == "9915:lab0000001"
    hrefs = [
        reference.get("href")
        for reference in root.findall(
            "smp:ServiceMetadataReferenceCollection/smp:ServiceMetadataReference", NS
        )
    ]
    services = f"{smp.url}{HOSTED_PATH}/services/"
    assert hrefs == [services + INVOICE_PATH, services + CREDIT_NOTE_PATH]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(HOSTED_PATH, id="encoded"),
        pytest.param("/" + HOSTED, id="raw-colons"),
        pytest.param(HOSTED_PATH.replace("lab", "LAB"), id="upper-case-value"),
        pytest.param(HOSTED_PATH.replace("iso6523", "ISO6523"), id="upper-case-scheme"),
    ],
)
async def test_service_group_matches_identifier_case_insensitively(
    smp: LabSmp, pki: ThrowawayPki, path: str
) -> None:
    status, body = await get(pki, smp.url + path)
    assert status == 200
    identifier = etree.fromstring(body).find("ids:ParticipantIdentifier", NS)
    assert (identifier.get("scheme"), identifier.text) == (
        "iso6523-actorid-upis",
        "9915:lab0000001",
    )


async def test_encoded_slash_stays_inside_the_identifier(smp: LabSmp, pki: ThrowawayPki) -> None:
    status, body = await get(pki, smp.url + "/iso6523-actorid-upis%3A%3A9915%3Alab%2F0000002")
    assert status == 200
    assert etree.fromstring(body).findtext("ids:ParticipantIdentifier", namespaces=NS) == (
        "9915:lab/0000002"
    )
    assert b"9915%3Alab%2F0000002/services/" in body


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/iso6523-actorid-upis%3A%3A9915%3Aother", id="participant-not-hosted"),
        pytest.param("/9915%3Alab0000001", id="no-scheme"),
        pytest.param("/iso6523-actorid-upis%3A%3A", id="empty-value"),
        pytest.param(HOSTED_PATH + "/services/busdox-docid-qns%3A%3Aunknown", id="unknown-doc"),
        pytest.param(HOSTED_PATH + "/other/" + INVOICE_PATH, id="not-services"),
        pytest.param(HOSTED_PATH + "/services/" + INVOICE_PATH + "/more", id="too-deep"),
        pytest.param(
            "/iso6523-actorid-upis%3A%3A9915%3Aother/services/" + INVOICE_PATH,
            id="metadata-of-participant-not-hosted",
        ),
        pytest.param("/iso6523-actorid-upis::9915:lab/0000002", id="raw-slash"),
        # Encoded twice: a real SMP decodes the path once and finds no identifier in it.
        pytest.param(HOSTED_PATH.replace("%", "%25"), id="encoded-twice"),
    ],
)
async def test_unknown_paths_are_404(smp: LabSmp, pki: ThrowawayPki, path: str) -> None:
    status, _ = await get(pki, smp.url + path)
    assert status == 404


# ---- SignedServiceMetadata -------------------------------------------------------------


@pytest.mark.parametrize("ec", [pytest.param(False, id="rsa"), pytest.param(True, id="ecdsa")])
async def test_signed_metadata_verifies_and_points_at_the_access_point(
    pki: ThrowawayPki, ec: bool
) -> None:
    async with make_smp(pki, ec=ec) as smp:
        status, body = await get(pki, f"{smp.url}{HOSTED_PATH}/services/{INVOICE_PATH}")
    assert status == 200
    signing_cert = pki.ec_signing_cert if ec else pki.rsa_signing_cert
    verified = XMLVerifier().verify(
        body, x509_cert=signing_cert.public_bytes(Encoding.PEM).decode()
    )
    assert isinstance(verified, VerifyResult)
    assert verified.signed_xml is not None

    root = etree.fromstring(body)
    assert root.tag == f"{{{SMP_NS}}}SignedServiceMetadata"
    assert [child.tag for child in root] == [
        f"{{{SMP_NS}}}ServiceMetadata",
        "{http://www.w3.org/2000/09/xmldsig#}Signature",
    ]
    information = root.find("smp:ServiceMetadata/smp:ServiceInformation", NS)
    document = information.find("ids:DocumentIdentifier", NS)
    assert document.get("scheme") == "busdox-docid-qns"
    assert document.text.startswith("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::")
    process = information.find("smp:ProcessList/smp:Process", NS)
    assert process.find("ids:ProcessIdentifier", NS).text == (
        "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
    )
    endpoint = process.find("smp:ServiceEndpointList/smp:Endpoint", NS)
    assert endpoint.get("transportProfile") == "peppol-transport-as4-v2_0"
    assert endpoint.findtext("wsa:EndpointReference/wsa:Address", namespaces=NS) == AP_URL
    certificate = base64.b64decode(endpoint.findtext("smp:Certificate", namespaces=NS))
    assert x509.load_der_x509_certificate(certificate) == pki.access_point_cert
    for element in ("RequireBusinessLevelSignature", "ServiceDescription", "TechnicalContactUrl"):
        assert endpoint.findtext(f"smp:{element}", namespaces=NS)


async def test_tampered_endpoint_url_fails_verification(smp: LabSmp, pki: ThrowawayPki) -> None:
    _, body = await get(pki, f"{smp.url}{HOSTED_PATH}/services/{CREDIT_NOTE_PATH}")
    tampered = body.replace(AP_URL.encode(), b"https://attacker.invalid/as4")
    assert tampered != body
    with pytest.raises(InvalidSignature):
        XMLVerifier().verify(
            tampered, x509_cert=pki.rsa_signing_cert.public_bytes(Encoding.PEM).decode()
        )


async def test_signed_metadata_is_cached_per_access_point_url_and_bounded(
    pki: ThrowawayPki,
) -> None:
    # ECDSA signatures are randomised: equal bytes mean the cache answered.
    invoice, credit_note = (
        f"{HOSTED_PATH}/services/{path}" for path in (INVOICE_PATH, CREDIT_NOTE_PATH)
    )
    async with make_smp(pki, ec=True, cache_size=1) as smp:
        first = await get(pki, smp.url + invoice)
        assert await get(pki, smp.url + invoice) == first
        smp.access_point_url = "https://127.0.0.1:10/as4"
        repointed = await get(pki, smp.url + invoice)
        assert b"https://127.0.0.1:10/as4" in repointed[1]
        await get(pki, smp.url + credit_note)  # evicts the invoice: the cache holds one
        assert await get(pki, smp.url + invoice) != repointed


# ---- health endpoints ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "expected"),
    [
        pytest.param("/monitor/is-alive", "text/plain", b"OK", id="domismp-is-alive"),
        pytest.param("/smp-status/", "application/json", b'"status": "ok"', id="phoss-status"),
        pytest.param("/ping", "text/plain", b"pong", id="phoss-ping"),
    ],
)
async def test_health_endpoints(
    smp: LabSmp, pki: ThrowawayPki, path: str, content_type: str, expected: bytes
) -> None:
    async with pki.client() as client:
        response = await client.get(smp.url + path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert expected in response.content


# ---- faults ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", FAULT_CASES)
async def test_http_faults(smp: LabSmp, pki: ThrowawayPki, case: FaultCase) -> None:
    await check_fault(smp, pki, HOSTED_PATH, case)


async def test_saturation_rejects_beyond_capacity(smp: LabSmp, pki: ThrowawayPki) -> None:
    await check_saturation(smp, pki, "/ping")


async def test_expired_certificate_switch(smp: LabSmp, pki: ThrowawayPki) -> None:
    await check_expired_certificate_switch(smp, pki)


@pytest.mark.parametrize(
    ("server_hostname", "seen"),
    [
        pytest.param(None, None, id="no-sni-by-ip"),
        pytest.param("smp.lab.test", "smp.lab.test", id="sni"),
    ],
)
async def test_sni_callback_runs_with_and_without_sni(
    pki: ThrowawayPki, server_hostname: str | None, seen: str | None
) -> None:
    context = switchable_ssl_context(pki.tls, pki.expired_tls, lambda: True)
    choose = context.sni_callback
    assert choose is not None
    names: list[str | None] = []

    # typeshed types server_name as str, but OpenSSL passes None when there is no SNI.
    def recording(ssl_object: ssl.SSLObject, name: str, ctx: ssl.SSLContext) -> None:
        names.append(name)
        choose(ssl_object, name, ctx)

    context.sni_callback = recording

    async def close(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(close, "127.0.0.1", 0, ssl=context)
    async with server:
        port = server.sockets[0].getsockname()[1]
        presented = await peer_certificate(f"https://127.0.0.1:{port}", server_hostname)
    assert names == [seen]
    assert presented == pki.expired_cert
