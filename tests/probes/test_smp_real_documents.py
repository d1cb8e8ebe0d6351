"""SMP documents written by real SMP software, judged as `xmlsec1 --verify` judges them.

The documents and their origin are in `real_smp_documents/` (see its README). Most are
RSA-SHA1, as Peppol SMPs signed before SMP specification 1.3.0: a verified one reports the
weak algorithm, never a bad signature. A tampered one is bad at any time, whatever its
signer's validity says. What vigie reads from a verified one (each endpoint's transport
profile and URL, a ServiceGroup's document types) is checked against the document.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from probes import PROBERS, CheckDefaults, FailureReason, ProbeEnv, ProbeResult, ResultBook, Runner
from probes.naming import ParticipantId
from probes.smp import SmpFindings, SmpTarget, expand_smp
from probes.smp_document import (
    DocumentError,
    SmpEndpoint,
    SmpRedirect,
    document_types,
    endpoints,
    names_signer,
    parse_xml,
    redirect_of,
    verify_signature,
)
from tests.lab.https_helpers import make_throwaway_pki
from tests.support import require_program
from vigie.http import outbound_client
from vigie.lab.smp_xml import signed_service_metadata_xml

DOCUMENTS = Path(__file__).parent / "real_smp_documents"
R = FailureReason
BUSDOX = "http://busdox.org/serviceMetadata/publishing/1.0/"
SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@dataclass(frozen=True)
class Signed:
    """A SignedServiceMetadata: what vigie says of it as of `at`, and what it finds."""

    at: datetime  # inside the signer's validity
    reason: FailureReason
    algorithm: str = SHA1
    # Each endpoint as `transport profile URL`, in the document's order.
    endpoints: tuple[str, ...] = ()
    redirect: SmpRedirect | None = None  # where it sends the client instead


@dataclass(frozen=True)
class Group:
    """A ServiceGroup: how many document types it lists, and the first one."""

    count: int
    first: str


@dataclass(frozen=True)
class Unsupported:
    """A good document of a format vigie does not read: the reason names the format."""

    format: str


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


AS4 = "peppol-transport-as4-v2_0"
AS2 = "busdox-transport-as2-ver1p0"
AS2V2 = "busdox-transport-as2-ver2p0"
BASWARE_AS4 = f"{AS4} https://test-api.basware.com/peppol/as4"
REAL: dict[str, Signed | Group | Unsupported] = {
    "peppol-commons-signed-service-metadata1.xml": Signed(at(2021, 1, 1), R.SMP_BAD_SIGNATURE),
    "peppol-commons-signed-service-metadata2.xml": Signed(at(2021, 1, 1), R.OK),
    # `<Signature xmlns="...xmldsig#">` under a root whose default namespace is another one.
    "vefa-peppol-basware-test-smp-0192-12345678.xml": Signed(
        at(2022, 6, 1), R.OK, endpoints=(BASWARE_AS4,)
    ),
    "vefa-peppol-basware-test-smp-pint-wildcard-9901.xml": Signed(
        at(2022, 6, 1),
        R.OK,
        endpoints=(f"{AS4} https://c3.pint.playground.sandbox.peppol.eu/as4",),
    ),
    "vefa-peppol-difi-smp-0192-991825827-three-transports.xml": Signed(
        at(2021, 6, 1),
        R.OK,
        endpoints=(
            f"{AS2V2} https://ectrade.ec.evry.com/peppol/as2v2",
            f"{AS2} https://ectrade.ec.evry.com/apno/as2",
            f"{AS4} https://ectrade.ec.evry.com/peppol/as4",
        ),
    ),
    # A Redirect to another SMP, signed by the redirecting SMP, and the document it names.
    "vefa-peppol-difi-test-smp-redirect-0192-991825827.xml": Signed(
        at(2021, 6, 1),
        R.OK,
        redirect=SmpRedirect(
            "http://test-smp2.difi.no/iso6523-actorid-upis%3A%3A0192%3A991825827/services/"
            "busdox-docid-qns%3A%3Aurn%3Aoasis%3Anames%3Aspecification%3Aubl%3Aschema%3Axsd"
            "%3AOrderResponse-2%3A%3AOrderResponse%23%23urn%3Afdc%3Apeppol.eu%3Apoacc%3Atrns"
            "%3Aorder_response%3A3%3Aextended%3Aurn%3Afdc%3Aanskaffelser.no%3A2019%3Aehf%3A"
            "spec%3A3.0%3A%3A2.2",
            "C=NO,O=Direktoratet for Forvaltning og IKT,OU=PEPPOL TEST SMP,CN=PNO000179",
        ),
    ),
    "vefa-peppol-difi-test-smp-redirect-target-0192-991825827.xml": Signed(
        at(2021, 6, 1),
        R.OK,
        endpoints=(
            f"{AS2V2} https://peppol-ap-stage.maventa.com/as2",
            f"{AS2} https://peppol-ap-stage.maventa.com/as2",
            f"{AS4} https://peppol-ap-stage.maventa.com/as4",
        ),
    ),
    "vefa-peppol-piraeus-smp-9933-061828591-two-processes.xml": Signed(
        at(2016, 1, 1),
        R.OK,
        endpoints=(
            f"{AS2} https://ap.peppol.gr/cipa-dispatcher/AS2Receiver",
            "busdox-transport-ebms3-as4 https://ap.peppol.gr/cipa-dispatcher/AS4Receiver",
            f"{AS2} https://ap.peppol.gr/cipa-dispatcher/AS2Receiver",
            "busdox-transport-ebms3-as4 https://ap.peppol.gr/cipa-dispatcher/AS4Receiver",
        ),
    ),
    "oxalis-difi-smp-2015-9908-971033533.xml": Signed(
        at(2015, 6, 1),
        R.OK,
        endpoints=(f"{AS2} https://peppol.itella.net/peppol-ap-inbound/as2",),
    ),
    # Edited after signing (an endpoint with an invented transport profile added).
    "oxalis-edited-after-signing-unknown-protocol.xml": Signed(at(2016, 6, 1), R.SMP_BAD_SIGNATURE),
    # OASIS BDXR SMP 1.0 by DomiSMP: its own signature, and the owner's inside Extension.
    "harmony-smp-domismp-bdxr10-two-signatures.xml": Signed(
        at(2017, 3, 1),
        R.OK,
        SHA256,
        endpoints=("urn:ihe:iti:2013:xcpd http://poland.pl/ncp/patient/list",),
    ),
    # The draft namespace of 2014, served by the Norwegian agency's SMP before BDXR 1.0.
    "vefa-peppol-bdxr-2014-draft-metadata-9908-810418052.xml": Unsupported(
        "the OASIS BDXR SMP draft of 2014-07"
    ),
    "vefa-peppol-bdxr10-service-group-9908-991825827.xml": Group(
        7,
        "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::"
        "CreditNote##urn:www.cenbii.eu:transaction:biitrns014:ver2.0:extended:"
        "urn:www.cenbii.eu:profile:biixx:ver2.0:extended:urn:www.difi.no:ehf:kreditnota:"
        "ver2.0::2.1",
    ),
    # Every reference's path encoded whole, `%2fservices%2f` included.
    "vefa-peppol-service-group-encoded-services-path.xml": Group(
        25,
        "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::"
        "CreditNote##urn:www.cenbii.eu:transaction:biicoretrdm014:ver1.0:#urn:www.peppol.eu:"
        "bis:peppol5a:ver1.0::2.0",
    ),
    "vefa-peppol-difi-smp-service-group-0192-991825827.xml": Group(
        9,
        "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::"
        "CreditNote##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:"
        "3.0::2.1",
    ),
}
SIGNED = sorted(name for name, real in REAL.items() if isinstance(real, Signed))
NOW = datetime(2026, 12, 7, tzinfo=UTC)


def xmlsec1_verifies(document: bytes, tmp_path: Path) -> bool:
    """xmlsec1's verdict on the signature alone (the key from KeyInfo, no chain check).

    The SMP's signature is the root's child; another one may sit deeper (DomiSMP keeps
    the owner's inside Extension), and xmlsec1 would check the first it meets.
    """
    program = require_program("xmlsec1")
    path = tmp_path / "document.xml"
    path.write_bytes(document)
    done = subprocess.run(
        [
            program,
            "--verify",
            "--insecure",
            "--enabled-key-data",
            "x509",
            "--node-xpath",
            "/*/*[local-name()='Signature']",
            str(path),
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0


def judged(
    document: bytes, now: datetime
) -> tuple[FailureReason, str, list[SmpEndpoint] | SmpRedirect]:
    root = parse_xml(document, "text/xml", "SignedServiceMetadata")
    try:
        verified = verify_signature(root, None, now)
        found = redirect_of(verified.document) or endpoints(verified.document)
    except DocumentError as exc:
        return exc.reason, exc.detail, []
    return R.OK, verified.algorithm, found


def vigie_reason(document: bytes, now: datetime) -> tuple[FailureReason, str]:
    reason, detail, _ = judged(document, now)
    return reason, detail


def tampered(document: bytes) -> bytes:
    # One byte of the first endpoint URL: the signature covers it.
    for marker in (b"Address>http", b"EndpointURI>http", b'Redirect href="http'):
        if marker in document:
            at = document.index(marker) + len(marker)
            break
    at = document.index(b"://", at) + len(b"://")
    return document[:at] + (b"X" if document[at : at + 1] != b"X" else b"Y") + document[at + 1 :]


@pytest.mark.parametrize("name", SIGNED)
def test_real_documents_are_judged_as_xmlsec1_judges_them(name: str, tmp_path: Path) -> None:
    document = (DOCUMENTS / name).read_bytes()
    real = REAL[name]
    assert isinstance(real, Signed)
    reason, detail, found = judged(document, real.at)
    assert reason is real.reason, detail
    assert (reason is R.OK) == xmlsec1_verifies(document, tmp_path)
    if reason is R.OK:
        assert detail == real.algorithm
        # Judged today, the same signature still verifies; its signer has expired.
        assert vigie_reason(document, NOW)[0] is R.SMP_SIGNER_EXPIRED
    if real.redirect is not None:
        assert found == real.redirect
    elif real.endpoints:
        assert isinstance(found, list)
        assert [f"{one.transport_profile} {one.url}" for one in found] == list(real.endpoints)
        assert all(one.certificate is not None for one in found)


@pytest.mark.parametrize("name", SIGNED)
@pytest.mark.parametrize("when", ["signed", "now"])
def test_a_tampered_real_document_is_bad_at_any_time(name: str, when: str, tmp_path: Path) -> None:
    document = tampered((DOCUMENTS / name).read_bytes())
    real = REAL[name]
    assert isinstance(real, Signed)
    now = real.at if when == "signed" else NOW
    reason, detail = vigie_reason(document, now)
    assert reason is R.SMP_BAD_SIGNATURE, detail  # never hidden behind an expired signer
    assert not xmlsec1_verifies(document, tmp_path)


@pytest.mark.parametrize(
    "name", sorted(name for name, real in REAL.items() if isinstance(real, Group))
)
def test_real_service_groups_list_their_document_types(name: str) -> None:
    real = REAL[name]
    assert isinstance(real, Group)
    listed = document_types(parse_xml((DOCUMENTS / name).read_bytes(), None, "ServiceGroup"))
    assert len(listed) == real.count
    assert listed[0] == real.first


@pytest.mark.parametrize(
    ("path", "listed"),
    [
        pytest.param("/p/services/x%3A%3Aa%2541", "x::a%41", id="services-in-clear"),
        pytest.param("/p%2fservices%2fx%3a%3aa%2541", "x::a%41", id="encoded-whole"),
    ],
)
def test_a_reference_is_percent_decoded_once(path: str, listed: str) -> None:
    group = (
        f'<ServiceGroup xmlns="{BUSDOX}"><ServiceMetadataReferenceCollection>'
        f'<ServiceMetadataReference href="http://smp.test{path}"/>'
        "</ServiceMetadataReferenceCollection></ServiceGroup>"
    ).encode()
    assert document_types(parse_xml(group, None, "ServiceGroup")) == [listed]


@pytest.mark.parametrize(
    "name", sorted(name for name, real in REAL.items() if isinstance(real, Unsupported))
)
def test_a_real_document_of_an_unsupported_format_is_named(name: str, tmp_path: Path) -> None:
    real = REAL[name]
    assert isinstance(real, Unsupported)
    document = (DOCUMENTS / name).read_bytes()
    with pytest.raises(DocumentError) as raised:
        parse_xml(document, "text/xml", "SignedServiceMetadata")
    assert raised.value.reason is R.SMP_UNSUPPORTED_FORMAT
    assert raised.value.detail.startswith(f"{real.format} (SignedServiceMetadata)")
    assert xmlsec1_verifies(document, tmp_path)  # good, merely not read


DIFI_TEST_SMP = "C=NO,O=Direktoratet for Forvaltning og IKT,OU=PEPPOL TEST SMP,CN=PNO000179"


@pytest.mark.parametrize(
    ("certificate_uid", "names"),
    [
        pytest.param(DIFI_TEST_SMP, True, id="as-the-real-redirect-writes-it"),
        pytest.param(",".join(reversed(DIFI_TEST_SMP.split(","))), True, id="rfc4514-order"),
        pytest.param("PNO000179", True, id="the-cn-alone"),
        pytest.param("CN=PNO000179", True, id="the-cn-as-a-dn"),
        pytest.param("", True, id="empty-names-nobody"),
        pytest.param(DIFI_TEST_SMP.replace("TEST", "PRODUCTION"), False, id="another-smp"),
        pytest.param("CN=POP000010", False, id="another-cn"),
    ],
)
def test_a_real_redirect_names_the_signer_of_the_document_it_sends_to(
    certificate_uid: str, names: bool
) -> None:
    target = DOCUMENTS / "vefa-peppol-difi-test-smp-redirect-target-0192-991825827.xml"
    root = parse_xml(target.read_bytes(), None, "SignedServiceMetadata")
    signer = verify_signature(root, None, at(2021, 6, 1)).signer
    assert names_signer(certificate_uid, signer) is names
    redirect = REAL["vefa-peppol-difi-test-smp-redirect-0192-991825827.xml"]
    assert isinstance(redirect, Signed)
    assert redirect.redirect is not None
    assert redirect.redirect.certificate_uid == DIFI_TEST_SMP


# -- the whole SMP check, served over HTTP ------------------------------------------------

# What the lab signs below.
PARTICIPANT = "iso6523-actorid-upis::0088:5060482240009"
DOCUMENT_TYPE = (
    "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:Order-2::Order##"
    "urn:www.cenbii.eu:transaction:biitrns001:ver2.0:extended:urn:www.peppol.eu:bis:"
    "peppol28a:ver1.0::2.1"
)


@dataclass(frozen=True)
class Served:
    """An SMP on 127.0.0.1 serving one real document and a ServiceGroup that lists it."""

    name: str  # of the document, in real_smp_documents/
    url: str
    participant: str
    document_type: str


@pytest.fixture
async def smp(request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    name = getattr(request, "param", "peppol-commons-signed-service-metadata2.xml")
    metadata = (DOCUMENTS / name).read_bytes()
    first = endpoints(parse_xml(metadata, None, "SignedServiceMetadata"))[0]
    participant, document_type = first.participant, first.document_type

    async def answer(request: web.Request) -> web.Response:
        if request.path.endswith("/services/" + document_type):
            return web.Response(body=metadata, content_type="text/xml")
        href = f"{base}/{quote(participant, safe='')}/services/{quote(document_type, safe='')}"
        group = (
            f'<ServiceGroup xmlns="{BUSDOX}"><ServiceMetadataReferenceCollection>'
            f'<ServiceMetadataReference href="{href.replace("&", "&amp;")}"/>'
            "</ServiceMetadataReferenceCollection></ServiceGroup>"
        )
        return web.Response(text=group, content_type="text/xml")

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    try:
        yield Served(name, base, participant, document_type)
    finally:
        await runner.cleanup()


async def probe(smp: Served, at: datetime, **settings: Any) -> ProbeResult:
    target = SmpTarget(url=smp.url, participant=smp.participant, document_type="first", **settings)
    (check,) = expand_smp(target, CheckDefaults(timeout=5.0))
    check = dataclasses.replace(check, params=dataclasses.replace(check.params, at=at))
    async with outbound_client() as http:
        return await Runner(PROBERS, ProbeEnv(http=http), ResultBook()).run(check)


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        pytest.param({}, R.WEAK_SIGNATURE, id="sha1-reported-weak"),
        pytest.param({"accept_sha1": True}, R.OK, id="sha1-accepted"),
    ],
)
async def test_a_real_sha1_document_verifies_and_reports_the_weak_algorithm(
    smp: Served, settings: dict[str, Any], reason: FailureReason
) -> None:
    result = await probe(smp, at(2021, 1, 1), **settings)
    assert result.reason is reason, result.detail
    findings = result.findings
    assert isinstance(findings, SmpFindings)
    (metadata,) = findings.metadata
    assert metadata.signature_algorithm == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    assert metadata.signer is not None
    assert "PNO000070" in metadata.signer.subject
    assert [endpoint.url for endpoint in findings.endpoints]


@pytest.mark.parametrize(
    "smp",
    [
        "vefa-peppol-basware-test-smp-0192-12345678.xml",
        "vefa-peppol-difi-smp-0192-991825827-three-transports.xml",
        "harmony-smp-domismp-bdxr10-two-signatures.xml",
    ],
    indirect=True,
)
async def test_the_whole_check_reads_real_documents_of_default_namespace_signatures(
    smp: Served,
) -> None:
    real = REAL[smp.name]
    assert isinstance(real, Signed)
    result = await probe(smp, real.at, accept_sha1=True)
    assert result.reason is R.OK, result.detail
    assert isinstance(result.findings, SmpFindings)
    found = [f"{one.transport_profile} {one.url}" for one in result.findings.endpoints]
    assert found == list(real.endpoints)


def test_documents_the_lab_signs_with_inclusive_c14n_agree_with_xmlsec1(tmp_path: Path) -> None:
    pki = make_throwaway_pki()
    document = signed_service_metadata_xml(
        ParticipantId.parse(PARTICIPANT),
        DOCUMENT_TYPE,
        "https://ap.test/as4",
        pki.access_point_cert,
        pki.rsa_signing_key,
        pki.rsa_signing_cert,
        [pki.intermediate_cert],
    )
    now = pki.rsa_signing_cert.not_valid_before_utc
    assert vigie_reason(document, now)[0] is R.OK
    assert xmlsec1_verifies(document, tmp_path)
    assert vigie_reason(tampered(document), now)[0] is R.SMP_BAD_SIGNATURE
    assert not xmlsec1_verifies(tampered(document), tmp_path)
