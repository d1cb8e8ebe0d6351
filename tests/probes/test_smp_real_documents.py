"""Signed metadata written by real SMP software, judged as `xmlsec1 --verify` judges it.

The documents and their origin are in `real_smp_documents/` (see its README). They are all
RSA-SHA1, as Peppol SMPs signed before SMP specification 1.3.0: a verified one reports the
weak algorithm, never a bad signature. A tampered one is bad at any time, whatever its
signer's validity says.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from probes import PROBERS, CheckDefaults, FailureReason, ProbeEnv, ProbeResult, ResultBook, Runner
from probes.naming import ParticipantId
from probes.smp import SmpFindings, SmpTarget, expand_smp
from probes.smp_document import DocumentError, endpoints, parse_xml, verify_signature
from tests.lab.https_helpers import make_throwaway_pki
from tests.support import require_program
from vigie.http import outbound_client
from vigie.lab.smp_xml import signed_service_metadata_xml

DOCUMENTS = Path(__file__).parent / "real_smp_documents"
R = FailureReason

# file -> (judged as of, what vigie says then)
REAL = {
    "peppol-commons-signed-service-metadata1.xml": (
        datetime(2021, 1, 1, tzinfo=UTC), R.SMP_BAD_SIGNATURE
    ),
    "peppol-commons-signed-service-metadata2.xml": (datetime(2021, 1, 1, tzinfo=UTC), R.OK),
    "peppol-commons-signed-service-metadata3-c14n-inclusive.xml": (
        datetime(2019, 6, 1, tzinfo=UTC), R.OK
    ),
}  # fmt: skip
NOW = datetime(2026, 12, 7, tzinfo=UTC)


def xmlsec1_verifies(document: bytes, tmp_path: Path) -> bool:
    """xmlsec1's verdict on the signature alone (the key from KeyInfo, no chain check)."""
    program = require_program("xmlsec1")
    path = tmp_path / "document.xml"
    path.write_bytes(document)
    done = subprocess.run(
        [program, "--verify", "--insecure", "--enabled-key-data", "x509", str(path)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0


def vigie_reason(document: bytes, now: datetime) -> tuple[FailureReason, str]:
    root = parse_xml(document, "text/xml", "SignedServiceMetadata")
    try:
        verified = verify_signature(root, None, now)
    except DocumentError as exc:
        return exc.reason, exc.detail
    endpoints(verified.document)
    return R.OK, verified.weakness


def tampered(document: bytes) -> bytes:
    # One byte of the first endpoint URL: the signature covers it.
    at = document.index(b"<wsa:Address>https://") if b"<wsa:Address>" in document else -1
    if at < 0:
        at = document.index(b"Address>https://")
    at = document.index(b"https://", at) + len("https://")
    return document[:at] + (b"X" if document[at : at + 1] != b"X" else b"Y") + document[at + 1 :]


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_documents_are_judged_as_xmlsec1_judges_them(name: str, tmp_path: Path) -> None:
    document = (DOCUMENTS / name).read_bytes()
    signed_at, expected = REAL[name]
    reason, detail = vigie_reason(document, signed_at)
    assert reason is expected, detail
    assert (reason is R.OK) == xmlsec1_verifies(document, tmp_path)
    if reason is R.OK:
        assert "rsa-sha1" in detail  # verified, and the weak algorithm named
        # Judged today, the same signature still verifies; its signer has expired.
        assert vigie_reason(document, NOW)[0] is R.SMP_SIGNER_EXPIRED


@pytest.mark.parametrize("name", sorted(REAL))
@pytest.mark.parametrize("when", ["signed", "now"])
def test_a_tampered_real_document_is_bad_at_any_time(name: str, when: str, tmp_path: Path) -> None:
    document = tampered((DOCUMENTS / name).read_bytes())
    now = REAL[name][0] if when == "signed" else NOW
    reason, detail = vigie_reason(document, now)
    assert reason is R.SMP_BAD_SIGNATURE, detail  # never hidden behind an expired signer
    assert not xmlsec1_verifies(document, tmp_path)


# -- the whole SMP check, served over HTTP ------------------------------------------------

PARTICIPANT = "iso6523-actorid-upis::0088:5060482240009"
DOCUMENT_TYPE = (
    "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:Order-2::Order##"
    "urn:www.cenbii.eu:transaction:biitrns001:ver2.0:extended:urn:www.peppol.eu:bis:"
    "peppol28a:ver1.0::2.1"
)
BUSDOX = "http://busdox.org/serviceMetadata/publishing/1.0/"


@pytest.fixture
async def smp() -> AsyncIterator[str]:
    """An SMP serving document 2 and a ServiceGroup listing its document type."""
    metadata = (DOCUMENTS / "peppol-commons-signed-service-metadata2.xml").read_bytes()

    async def answer(request: web.Request) -> web.Response:
        if request.path.endswith("/services/" + DOCUMENT_TYPE):
            return web.Response(body=metadata, content_type="text/xml")
        href = f"{base}/{quote(PARTICIPANT, safe='')}/services/{quote(DOCUMENT_TYPE, safe='')}"
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
        yield base
    finally:
        await runner.cleanup()


async def probe(url: str, at: datetime, **settings: Any) -> ProbeResult:
    target = SmpTarget(url=url, participant=PARTICIPANT, document_type="first", **settings)
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
    smp: str, settings: dict[str, Any], reason: FailureReason
) -> None:
    result = await probe(smp, REAL["peppol-commons-signed-service-metadata2.xml"][0], **settings)
    assert result.reason is reason, result.detail
    findings = result.findings
    assert isinstance(findings, SmpFindings)
    (metadata,) = findings.metadata
    assert metadata.signature_algorithm == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    assert metadata.signer is not None
    assert "PNO000070" in metadata.signer.subject
    assert [endpoint.url for endpoint in findings.endpoints]


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
