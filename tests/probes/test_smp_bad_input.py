"""SMP checks against a local HTTP server that answers badly: each ends as a reason.

The server takes its behaviour from the first path segment, so one check's base URL is
`http://127.0.0.1:PORT/<behaviour>`; it records the raw path of every request.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree  # type: ignore[import-untyped]
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from probes import PROBERS, CheckDefaults, FailureReason, ProbeEnv, ProbeResult, ResultBook, Runner
from probes.naming import ParticipantId
from probes.smp import SmpFindings, SmpTarget, expand_smp
from tests.lab.https_helpers import ThrowawayPki, make_throwaway_pki
from tests.probes.local_server import LocalServer
from vigie.http import outbound_client
from vigie.lab.smp_xml import service_group_xml, signed_service_metadata_xml

PARTICIPANT = "iso6523-actorid-upis::9915:test"
PARTICIPANT_PATH = "iso6523-actorid-upis%3A%3A9915%3Atest"
DOCUMENT = "busdox-docid-qns::urn:x:Invoice##urn:y::2.1"
DOCUMENT_PATH = "busdox-docid-qns%3A%3Aurn%3Ax%3AInvoice%23%23urn%3Ay%3A%3A2.1"
AP_URL = "https://ap.test/as4"
BDXR = "http://docs.oasis-open.org/bdxr/ns/SMP/2016/05"
BUSDOX = "http://busdox.org/serviceMetadata/publishing/1.0/"
TEN_MB = 10 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture(scope="module")
def pki() -> ThrowawayPki:
    return make_throwaway_pki()


def sign(pki: ThrowawayPki, root: Any) -> bytes:
    signed = XMLSigner(
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0,
    ).sign(root, key=pki.rsa_signing_key, cert=[pki.rsa_signing_cert, pki.intermediate_cert])
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


def signed_metadata(pki: ThrowawayPki, participant: str = PARTICIPANT) -> bytes:
    return signed_service_metadata_xml(
        ParticipantId.parse(participant),
        DOCUMENT,
        AP_URL,
        pki.access_point_cert,
        pki.rsa_signing_key,
        pki.rsa_signing_cert,
        [pki.intermediate_cert],
    )


def bdxr(element: str, *children: Any, **attributes: str) -> Any:
    node = etree.Element(f"{{{BDXR}}}{element}", attributes, nsmap={None: BDXR})
    for child in children:
        if isinstance(child, str):
            node.text = child
        else:
            node.append(child)
    return node


def bdxr_documents(pki: ThrowawayPki, base: str) -> tuple[bytes, bytes]:
    """A BDXR SMP 1.0 ServiceGroup and its signed metadata (EndpointURI)."""
    group = bdxr(
        "ServiceGroup",
        bdxr("ParticipantIdentifier", "9915:test", scheme="iso6523-actorid-upis"),
        bdxr(
            "ServiceMetadataReferenceCollection",
            bdxr(
                "ServiceMetadataReference",
                href=f"{base}/{PARTICIPANT_PATH}/services/{DOCUMENT_PATH}",
            ),
        ),
    )
    certificate = base64.b64encode(pki.access_point_cert.public_bytes(Encoding.DER)).decode()
    metadata = bdxr(
        "SignedServiceMetadata",
        bdxr(
            "ServiceMetadata",
            bdxr(
                "ServiceInformation",
                bdxr("ParticipantIdentifier", "9915:test", scheme="iso6523-actorid-upis"),
                bdxr("DocumentIdentifier", "urn:x:Invoice##urn:y::2.1", scheme="busdox-docid-qns"),
                bdxr(
                    "ProcessList",
                    bdxr(
                        "Process",
                        bdxr("ProcessIdentifier", "urn:p", scheme="cenbii-procid-ubl"),
                        bdxr(
                            "ServiceEndpointList",
                            bdxr(
                                "Endpoint",
                                bdxr("EndpointURI", AP_URL),
                                bdxr("RequireBusinessLevelSignature", "false"),
                                bdxr("Certificate", certificate),
                                transportProfile="bdxr-transport-ebms3-as4-v1p0",
                            ),
                        ),
                    ),
                ),
            ),
        ),
    )
    return etree.tostring(group), sign(pki, metadata)


def without_endpoints(pki: ThrowawayPki) -> bytes:
    root = etree.fromstring(signed_metadata(pki))
    signature = root[-1]
    root.remove(signature)
    for endpoint_list in root.iter("{*}ServiceEndpointList"):
        endpoint_list.getparent().remove(endpoint_list)
    return sign(pki, root)


def smp_redirect(pki: ThrowawayPki, href: str, uid: str | None = None) -> bytes:
    """Signed Peppol SMP 1.x metadata that sends the client to `href`, signed by `uid`."""
    root = etree.Element(f"{{{BUSDOX}}}SignedServiceMetadata", nsmap={None: BUSDOX})
    metadata = etree.SubElement(root, f"{{{BUSDOX}}}ServiceMetadata")
    redirect = etree.SubElement(metadata, f"{{{BUSDOX}}}Redirect", href=href)
    named = etree.SubElement(redirect, f"{{{BUSDOX}}}CertificateUID")
    named.text = pki.rsa_signing_cert.subject.rfc4514_string() if uid is None else uid
    return sign(pki, root)


def unsigned(pki: ThrowawayPki) -> bytes:
    root = etree.fromstring(signed_metadata(pki))
    root.remove(root[-1])
    return bytes(etree.tostring(root))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<ServiceGroup xmlns="http://busdox.org/serviceMetadata/publishing/1.0/">&lol3;</ServiceGroup>"""
# OASIS SMP 2.0 as DomiSMP 5 writes it (no SignedServiceMetadata: the signature would sit
# inside ServiceMetadata).
SMP2 = "http://docs.oasis-open.org/bdxr/ns/SMP/2/"
SMP2_GROUP = f"""<ns5:ServiceGroup xmlns="{SMP2}BasicComponents"
 xmlns:ns5="{SMP2}ServiceGroup"><SMPVersionID>2.0</SMPVersionID>
<ParticipantID schemeID="iso6523-actorid-upis">9915:test</ParticipantID></ns5:ServiceGroup>
""".encode()
SMP2_METADATA = f"""<ServiceMetadata xmlns:smb="{SMP2}BasicComponents"
 xmlns:sma="{SMP2}AggregateComponents" xmlns="{SMP2}ServiceMetadata">
<smb:SMPVersionID>2.0</smb:SMPVersionID><sma:ProcessMetadata><sma:Endpoint>
<smb:TransportProfileID>bdxr-transport-ebms3-as4-v1p0</smb:TransportProfileID>
<smb:AddressURI>{AP_URL}</smb:AddressURI></sma:Endpoint></sma:ProcessMetadata>
</ServiceMetadata>""".encode()
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE sg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ServiceGroup xmlns="http://busdox.org/serviceMetadata/publishing/1.0/">&xxe;</ServiceGroup>"""


class BadSmp(LocalServer):
    """An aiohttp server on 127.0.0.1 whose answers depend on the first path segment."""

    route = "/{behaviour}/{rest:.*}"
    shutdown_timeout = 0.1

    def __init__(self, pki: ThrowawayPki) -> None:
        super().__init__()
        self.pki = pki
        self.raw_paths: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.raw_paths.append(request.rel_url.raw_path)
        behaviour = request.match_info["behaviour"]
        base = f"{self.url}/{behaviour}"
        metadata = "/services/" in request.rel_url.raw_path
        group = service_group_xml(ParticipantId.parse(PARTICIPANT), base, [DOCUMENT])
        if behaviour == "deep-json-status" and raw_rest(request).startswith("smp-status"):
            return web.Response(text="[" * 20_000 + "]" * 20_000, content_type="application/json")
        if behaviour == "html":
            return web.Response(
                text="<html><body>maintenance</body></html>", content_type="text/html"
            )
        if behaviour == "html-said-xml":
            return xml(b"<!DOCTYPE html>\n<html><body>maintenance</body></html>")
        if behaviour == "json":
            return web.json_response({"error": "no"})
        if behaviour == "garbage":
            return xml(b"<ServiceGroup><unclosed>")
        if behaviour == "wrong-root":
            return xml(b"<Other xmlns='urn:other'/>")
        if behaviour == "billion-laughs":
            return xml(BILLION_LAUGHS)
        if behaviour == "external-entity":
            return xml(EXTERNAL_ENTITY)
        if behaviour == "oasis-smp-2":
            return xml(SMP2_GROUP)
        if behaviour == "oasis-smp-2-metadata" and metadata:
            return xml(SMP2_METADATA)
        if behaviour == "bad-href":
            return xml(group.replace(b"/services/", b"/elsewhere/"))
        if behaviour == "encoded-services" and not metadata:
            return xml(group.replace(b"/services/", b"%2fservices%2f"))
        if behaviour in {"404", "500", "429"}:
            return web.Response(status=int(behaviour), text="no")
        if behaviour == "huge-streamed":
            return await stream_zeros(request, TEN_MB)
        if behaviour == "huge-declared":
            return xml(b"<x/>" + b" " * (3 * 1024 * 1024))
        if behaviour == "gzip-bomb":
            body = gzip.compress(b"<x>" + b" " * TEN_MB + b"</x>")
            return web.Response(
                body=body, headers={"Content-Encoding": "gzip", "Content-Type": "text/xml"}
            )
        if behaviour == "redirect-loop":
            other = "redirect-loop-b"
            raise web.HTTPFound(f"{self.url}/{other}/{raw_rest(request)}")
        if behaviour == "redirect-loop-b":
            raise web.HTTPFound(f"{self.url}/redirect-loop/{raw_rest(request)}")
        if behaviour.startswith("redirect-chain"):
            step = int(behaviour.rsplit("-", 1)[1]) if behaviour[-1].isdigit() else 0
            raise web.HTTPFound(f"{self.url}/redirect-chain-{step + 1}/x")
        if behaviour == "redirect-once":
            # A header of our own: aiohttp's HTTPFound would decode the Location.
            location = f"{self.url}/ok/{raw_rest(request)}"
            return web.Response(status=301, headers={"Location": location})
        if behaviour == "stall":
            response = web.StreamResponse(headers={"Content-Type": "text/xml"})
            await response.prepare(request)
            await response.write(b"<ServiceGroup")
            await self.release.wait()  # a slowloris: a few bytes, then nothing
            return response
        if behaviour == "bdxr":
            bdxr_group, bdxr_metadata = bdxr_documents(self.pki, base)
            return xml(bdxr_metadata if metadata else bdxr_group)
        if not metadata:
            return xml(group)
        if behaviour == "ok":
            return xml(signed_metadata(self.pki))
        if behaviour == "other-participant":
            return xml(signed_metadata(self.pki, "iso6523-actorid-upis::0088:someone-else"))
        if behaviour == "tampered":
            return xml(signed_metadata(self.pki).replace(AP_URL.encode(), b"https://evil.test/"))
        if behaviour == "unsigned":
            return xml(unsigned(self.pki))
        if behaviour.startswith("smp-redirect"):
            target = "smp-redirect" if behaviour == "smp-redirect-twice" else "ok"
            href = f"{self.url}/{target}/{PARTICIPANT_PATH}/services/{DOCUMENT_PATH}"
            uid = "CN=another SMP,C=BE" if behaviour == "smp-redirect-other-signer" else None
            return xml(smp_redirect(self.pki, href, uid))
        if behaviour == "encoded-services":
            return xml(signed_metadata(self.pki))
        if behaviour == "no-endpoint":
            return xml(without_endpoints(self.pki))
        raise web.HTTPNotFound()


def raw_rest(request: web.Request) -> str:
    """The path after the behaviour segment, still percent-encoded."""
    return request.rel_url.raw_path.split("/", 2)[2]


def xml(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/xml")


async def stream_zeros(request: web.Request, size: int) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/xml"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    chunk = b" " * 65536
    try:
        for _ in range(size // len(chunk)):
            await response.write(chunk)
    except (ConnectionResetError, ConnectionError):
        pass  # the client stopped reading: what the cap is for
    return response


@pytest.fixture
async def server(pki: ThrowawayPki) -> AsyncIterator[BadSmp]:
    async with BadSmp(pki) as running:
        yield running


@pytest.fixture
async def env() -> AsyncIterator[ProbeEnv]:
    async with outbound_client() as http:
        yield ProbeEnv(http=http)


async def probe(env: ProbeEnv, limit: float = 5.0, **settings: Any) -> ProbeResult:
    """Run one check of `settings` as the agent does, with a time limit of `limit` s."""
    (check,) = expand_smp(SmpTarget(**settings), CheckDefaults(timeout=limit))
    return await Runner(PROBERS, env, ResultBook()).run(check)


@pytest.mark.parametrize(
    ("behaviour", "reason", "detail"),
    [
        pytest.param("html", FailureReason.SMP_NOT_XML, "content type text/html", id="html"),
        pytest.param("html-said-xml", FailureReason.SMP_NOT_XML, "<!doctype html", id="html-xml"),
        pytest.param("json", FailureReason.SMP_NOT_XML, "application/json", id="json"),
        pytest.param("garbage", FailureReason.SMP_MALFORMED_XML, "not well-formed", id="garbage"),
        pytest.param("wrong-root", FailureReason.SMP_MALFORMED_XML, "urn:other", id="wrong-root"),
        pytest.param("billion-laughs", FailureReason.SMP_MALFORMED_XML, "DOCTYPE", id="bomb"),
        pytest.param("external-entity", FailureReason.SMP_MALFORMED_XML, "DOCTYPE", id="xxe"),
        pytest.param("bad-href", FailureReason.SMP_MALFORMED_XML, "/services/", id="bad-href"),
        pytest.param(
            "oasis-smp-2",
            FailureReason.SMP_UNSUPPORTED_FORMAT,
            "OASIS SMP 2.0 (ServiceGroup) is not supported",
            id="oasis-smp-2.0",
        ),
        pytest.param("404", FailureReason.SMP_NOT_FOUND, "HTTP 404", id="404"),
        pytest.param("500", FailureReason.SMP_HTTP_ERROR, "HTTP 500", id="500"),
        pytest.param("429", FailureReason.SMP_SATURATED, "HTTP 429", id="429"),
        pytest.param("huge-streamed", FailureReason.SMP_TOO_LARGE, "more than", id="10MB"),
        pytest.param("huge-declared", FailureReason.SMP_TOO_LARGE, "Content-Length", id="long"),
        pytest.param("gzip-bomb", FailureReason.SMP_TOO_LARGE, "more than", id="gzip-bomb"),
        pytest.param("redirect-loop", FailureReason.SMP_REDIRECT_LOOP, "loop", id="loop"),
        pytest.param("redirect-chain", FailureReason.SMP_REDIRECT_LOOP, "more than 3", id="chain"),
    ],
)
async def test_a_bad_service_group_answer_is_a_reason(
    server: BadSmp, env: ProbeEnv, behaviour: str, reason: FailureReason, detail: str
) -> None:
    result = await probe(env, url=f"{server.url}/{behaviour}", participant=PARTICIPANT)
    assert result.reason is reason, result.detail
    assert detail in result.detail


async def test_a_status_document_nested_past_the_parser_is_no_status(
    server: BadSmp, env: ProbeEnv
) -> None:
    # phoss-SMP's status is read only when it is a JSON object with a status.
    url = f"{server.url}/deep-json-status"
    result = await probe(env, url=url, participant=PARTICIPANT, health="phoss")
    assert result.reason is FailureReason.OK, result.detail


async def test_a_stalled_answer_ends_as_a_timeout(server: BadSmp, env: ProbeEnv) -> None:
    result = await probe(env, limit=0.3, url=f"{server.url}/stall", participant=PARTICIPANT)
    assert result.reason is FailureReason.TIMEOUT


async def test_one_redirect_is_followed(server: BadSmp, env: ProbeEnv) -> None:
    result = await probe(env, url=f"{server.url}/redirect-once", participant=PARTICIPANT)
    assert result.reason is FailureReason.OK
    assert server.raw_paths == [f"/redirect-once/{PARTICIPANT_PATH}", f"/ok/{PARTICIPANT_PATH}"]


@pytest.mark.parametrize(
    ("behaviour", "anchored", "reason", "detail"),
    [
        pytest.param("ok", True, FailureReason.OK, "", id="signed-and-trusted"),
        pytest.param("tampered", True, FailureReason.SMP_BAD_SIGNATURE, "Digest", id="tampered"),
        pytest.param(
            "unsigned", True, FailureReason.SMP_BAD_SIGNATURE, "not signed", id="unsigned"
        ),
        pytest.param("no-endpoint", True, FailureReason.SMP_NO_ENDPOINT, "no endpoint", id="empty"),
        pytest.param(
            "other-participant",
            True,
            FailureReason.SMP_WRONG_METADATA,
            "0088:someone-else",
            id="signed-for-another-participant",
        ),
        pytest.param("ok", False, FailureReason.OK, "", id="no-anchors-signature-only"),
        pytest.param("bdxr", True, FailureReason.OK, "", id="oasis-bdxr-1.0"),
        pytest.param("encoded-services", True, FailureReason.OK, "", id="href-all-encoded"),
        pytest.param(
            "oasis-smp-2-metadata",
            True,
            FailureReason.SMP_UNSUPPORTED_FORMAT,
            "OASIS SMP 2.0 (ServiceMetadata)",
            id="oasis-smp-2.0-metadata",
        ),
        pytest.param("smp-redirect", True, FailureReason.OK, "", id="smp-redirect-followed"),
        pytest.param(
            "smp-redirect-twice",
            True,
            FailureReason.SMP_REDIRECT_LOOP,
            "a redirect to another redirect",
            id="smp-redirect-to-a-redirect",
        ),
        pytest.param(
            "smp-redirect-other-signer",
            True,
            FailureReason.SMP_UNTRUSTED_SIGNER,
            "the redirect names the signer 'CN=another SMP,C=BE'",
            id="smp-redirect-signed-by-another",
        ),
    ],
)
async def test_signed_metadata(
    server: BadSmp,
    env: ProbeEnv,
    pki: ThrowawayPki,
    tmp_path: Path,
    behaviour: str,
    anchored: bool,
    reason: FailureReason,
    detail: str,
) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(pki.ca_pem)
    result = await probe(
        env,
        url=f"{server.url}/{behaviour}",
        participant=PARTICIPANT,
        document_type=DOCUMENT,
        trust_anchors=anchors if anchored else None,
    )
    assert result.reason is reason, result.detail
    assert detail in result.detail
    if reason is FailureReason.OK:
        assert isinstance(result.findings, SmpFindings)
        (endpoint,) = result.findings.endpoints
        assert (endpoint.url, endpoint.document_type) == (AP_URL, DOCUMENT)


async def test_a_followed_smp_redirect_shows_both_documents(server: BadSmp, env: ProbeEnv) -> None:
    result = await probe(
        env, url=f"{server.url}/smp-redirect", participant=PARTICIPANT, document_type=DOCUMENT
    )
    assert result.reason is FailureReason.OK, result.detail
    assert isinstance(result.findings, SmpFindings)
    assert [facts.url for facts in result.findings.metadata] == [
        f"{server.url}/smp-redirect/{PARTICIPANT_PATH}/services/{DOCUMENT_PATH}",
        f"{server.url}/ok/{PARTICIPANT_PATH}/services/{DOCUMENT_PATH}",
    ]
    assert all(facts.signer is not None for facts in result.findings.metadata)


async def test_the_identifiers_travel_percent_encoded_as_one_segment_each(
    server: BadSmp, env: ProbeEnv
) -> None:
    # A scheme without Peppol's value rules, so the value may hold a space.
    participant = "urn:example:scheme::9915:a/b#c d%e"
    await probe(env, url=f"{server.url}/404", participant=participant)
    await probe(env, url=f"{server.url}/ok", participant=PARTICIPANT, document_type=DOCUMENT)
    assert server.raw_paths == [
        "/404/urn%3Aexample%3Ascheme%3A%3A9915%3Aa%2Fb%23c%20d%25e",
        f"/ok/{PARTICIPANT_PATH}",
        f"/ok/{PARTICIPANT_PATH}/services/{DOCUMENT_PATH}",
    ]
