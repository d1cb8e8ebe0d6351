"""The lab PKI server over real HTTP on 127.0.0.1, its faults, and openssl's opinion of it."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tests.support import require_program
from vigie.lab.faults import Fault, FaultKind, Faults
from vigie.lab.pki import LabPki
from vigie.lab.pki_server import PkiServer


class Clock:
    """Real time at creation, then moved only by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Fetched:
    status: int
    content_type: str
    body: bytes


@dataclass
class Lab:
    server: PkiServer
    faults: Faults
    pki: LabPki
    clock: Clock
    http: aiohttp.ClientSession

    async def get(self, path: str) -> Fetched:
        async with self.http.get(self.server.url + path) as response:
            return Fetched(response.status, response.content_type, await response.read())

    async def crl(self, ca_name: str) -> x509.CertificateRevocationList:
        response = await self.get(f"/crl/{ca_name}.crl")
        assert response.status == 200
        assert response.content_type == "application/pkix-crl"
        return x509.load_der_x509_crl(response.body)

    async def ocsp(self, name: str) -> ocsp.OCSPResponse:
        issued = self.pki.by_name(name)
        issuer = self.pki.ca(self.pki.issuer_of(issued))
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(issued.cert, issuer.cert, hashes.SHA1())
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        headers = {"Content-Type": "application/ocsp-request"}
        async with self.http.post(
            self.server.url + "/ocsp", data=request, headers=headers
        ) as response:
            assert response.status == 200
            assert response.content_type == "application/ocsp-response"
            return ocsp.load_der_ocsp_response(await response.read())

    async def observe(self) -> dict[str, Any]:
        """What a PKI probe would conclude about each CRL and a few OCSP answers."""
        seen: dict[str, Any] = {}
        for ca_name in ("root", "intermediate"):
            crl = await self.crl(ca_name)
            issuer_key = self.pki.ca(ca_name).key.public_key()
            listed = {entry.serial_number for entry in crl}
            seen[f"{ca_name} CRL signature valid"] = crl.is_signature_valid(issuer_key)
            seen[f"{ca_name} CRL fresh"] = crl.next_update_utc is not None and (
                crl.last_update_utc <= self.clock.now < crl.next_update_utc
            )
            seen[f"{ca_name} CRL lists"] = {
                issued.name
                for issued in self.pki.all_issued()
                if issued.cert.serial_number in listed
            }
        for name in ("intermediate", "smp1", "smp2"):
            seen[f"OCSP {name}"] = (await self.ocsp(name)).certificate_status.name
        return seen


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    faults, clock = Faults(), Clock()
    async with PkiServer(faults, clock=clock) as server:
        pki = LabPki.generate(server.url, now=clock.now)
        server.attach(pki)
        async with aiohttp.ClientSession(raise_for_status=False) as http:
            yield Lab(server, faults, pki, clock, http)


# -- serving ---------------------------------------------------------------------------


async def test_crls_are_served_fresh_signed_and_listing_only_the_retired_certificate(
    lab: Lab,
) -> None:
    assert lab.pki.crl_url("root").startswith(lab.server.url)
    root_crl, intermediate_crl = await lab.crl("root"), await lab.crl("intermediate")
    assert root_crl.is_signature_valid(lab.pki.root.key.public_key())
    assert intermediate_crl.is_signature_valid(lab.pki.intermediate.key.public_key())
    assert intermediate_crl.last_update_utc == lab.clock.now - timedelta(hours=1)
    assert intermediate_crl.next_update_utc == lab.clock.now + timedelta(hours=24)
    assert list(root_crl) == []
    assert [entry.serial_number for entry in intermediate_crl] == [
        lab.pki.retired.cert.serial_number
    ]
    assert lab.server.served == {"crl/root": 1, "crl/intermediate": 1}


async def test_ca_certificates_are_served_for_aia_ca_issuers(lab: Lab) -> None:
    response = await lab.get("/ca/intermediate.crt")
    assert response.content_type == "application/pkix-cert"
    assert x509.load_der_x509_certificate(response.body) == lab.pki.intermediate.cert
    assert (await lab.get("/ca/smp1.crt")).status == 404
    assert (await lab.get("/crl/smp1.crl")).status == 404


async def test_crl_is_reissued_only_when_faults_window_or_age_change(lab: Lab) -> None:
    def number(crl: x509.CertificateRevocationList) -> int:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    first = await lab.crl("root")
    assert number(await lab.crl("root")) == number(first)  # a burst is served from cache
    lab.faults.inject(FaultKind.NS_DOWN, "ns1")
    assert number(await lab.crl("root")) == number(first) + 1
    lab.server.set_crl_window("root", timedelta(minutes=-5), timedelta(hours=2))
    windowed = await lab.crl("root")
    assert number(windowed) == number(first) + 2
    assert windowed.next_update_utc == lab.clock.now + timedelta(hours=2)
    lab.clock.now += timedelta(hours=1)
    assert number(await lab.crl("root")) == number(first) + 3


async def test_ocsp_get_form_answers_like_post(lab: Lab) -> None:
    smp1 = lab.pki.endpoint("smp1").cert
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(smp1, lab.pki.intermediate.cert, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    encoded = quote(base64.b64encode(request).decode(), safe="")
    response = await lab.get(f"/ocsp/{encoded}")
    assert response.content_type == "application/ocsp-response"
    answer = ocsp.load_der_ocsp_response(response.body)
    assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
    malformed = ocsp.load_der_ocsp_response((await lab.get("/ocsp/not*base64")).body)
    assert malformed.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert lab.server.served["ocsp"] == 2


async def test_answers_503_until_a_pki_is_attached() -> None:
    async with PkiServer(Faults()) as server, aiohttp.ClientSession() as http:
        async with http.get(server.url + "/crl/root.crl") as response:
            assert response.status == 503
        with pytest.raises(RuntimeError):
            _ = server.pki


# -- faults ----------------------------------------------------------------------------

GOOD = "GOOD"


@pytest.mark.parametrize(
    ("kind", "target", "changes"),
    [
        pytest.param(
            FaultKind.CRL_STALE,
            "intermediate",
            {"intermediate CRL fresh": False},
            id="crl_stale-intermediate",
        ),
        pytest.param(
            FaultKind.CRL_BAD_SIGNATURE,
            "root",
            {"root CRL signature valid": False},
            id="crl_bad_signature-root",
        ),
        pytest.param(
            FaultKind.CRL_LISTS_MONITORED,
            "smp1",
            {"intermediate CRL lists": {"retired", "smp1"}},
            id="crl_lists_monitored-smp1-ocsp-still-good",
        ),
        pytest.param(
            FaultKind.CERT_REVOKED,
            "smp1",
            {"intermediate CRL lists": {"retired", "smp1"}, "OCSP smp1": "REVOKED"},
            id="cert_revoked-smp1",
        ),
        pytest.param(
            FaultKind.CERT_REVOKED,
            "intermediate",
            {"root CRL lists": {"intermediate"}, "OCSP intermediate": "REVOKED"},
            id="cert_revoked-intermediate",
        ),
        pytest.param(FaultKind.CERT_REVOKED, "nosuchcert", {}, id="cert_revoked-unknown-target"),
        pytest.param(FaultKind.SMP_5XX, "smp1", {}, id="unrelated-fault"),
    ],
)
async def test_each_fault_changes_exactly_what_it_should(
    lab: Lab, kind: FaultKind, target: str, changes: dict[str, Any]
) -> None:
    healthy = await lab.observe()
    assert healthy == {
        "root CRL signature valid": True,
        "root CRL fresh": True,
        "root CRL lists": set(),
        "intermediate CRL signature valid": True,
        "intermediate CRL fresh": True,
        "intermediate CRL lists": {"retired"},
        "OCSP intermediate": GOOD,
        "OCSP smp1": GOOD,
        "OCSP smp2": GOOD,
    }
    fault = lab.faults.inject(kind, target)
    faulty = await lab.observe()
    assert {key: value for key, value in faulty.items() if healthy[key] != value} == changes
    lab.faults.heal(fault.id)
    assert await lab.observe() == healthy


async def test_revocation_time_is_stable_and_shared_by_crl_and_ocsp(lab: Lab) -> None:
    lab.faults.inject(FaultKind.CERT_REVOKED, "smp2")
    serial = lab.pki.endpoint("smp2").cert.serial_number
    entry = (await lab.crl("intermediate")).get_revoked_certificate_by_serial_number(serial)
    assert entry is not None
    lab.clock.now += timedelta(minutes=10)
    assert (await lab.ocsp("smp2")).revocation_time_utc == entry.revocation_date_utc
    assert entry.revocation_date_utc < lab.clock.now - timedelta(hours=1)


async def test_unreachable_crl_drops_the_connection_without_any_http_response(lab: Lab) -> None:
    lab.faults.inject(FaultKind.CRL_UNREACHABLE, "intermediate")
    with pytest.raises(aiohttp.ClientConnectionError) as raised:
        await lab.get("/crl/intermediate.crl")
    assert not isinstance(raised.value, aiohttp.ClientResponseError)
    # Only that CA's distribution point is down; the rest of the PKI still answers.
    assert (await lab.crl("root")).is_signature_valid(lab.pki.root.key.public_key())
    assert (await lab.ocsp("smp1")).certificate_status is ocsp.OCSPCertStatus.GOOD


async def test_unreachable_crl_in_hang_mode_holds_the_request_then_drops_it(lab: Lab) -> None:
    lab.faults.inject(FaultKind.CRL_UNREACHABLE, "root", mode="hang", delay=0.3)
    started = time.monotonic()
    with pytest.raises(aiohttp.ClientConnectionError):
        await lab.get("/crl/root.crl")
    assert time.monotonic() - started >= 0.3


class WatchedFaults(Faults):
    """Faults that tell the test when a server has consulted CRL_UNREACHABLE."""

    def __init__(self) -> None:
        super().__init__()
        self.unreachable_consulted = asyncio.Event()

    def get(self, kind: FaultKind, target: str) -> Fault | None:
        if kind is FaultKind.CRL_UNREACHABLE:
            self.unreachable_consulted.set()
        return super().get(kind, target)


async def test_stopping_releases_requests_held_by_a_hang() -> None:
    faults = WatchedFaults()
    faults.inject(FaultKind.CRL_UNREACHABLE, "root", mode="hang", delay=30)
    server = PkiServer(faults)
    await server.start()
    server.attach(LabPki.generate(server.url))
    async with aiohttp.ClientSession() as http:
        held = asyncio.create_task(http.get(server.url + "/crl/root.crl"))
        await asyncio.wait_for(faults.unreachable_consulted.wait(), timeout=5)
        started = time.monotonic()
        await server.stop()
        with pytest.raises(aiohttp.ClientConnectionError):
            await held
        assert time.monotonic() - started < 5


# -- cross-checks with the openssl command line ----------------------------------------


async def run(*command: str) -> tuple[int, str]:
    """Exit status and merged output of a program, without blocking the server's loop."""
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.fixture
def pem_dir(lab: Lab, tmp_path: Path) -> Path:
    lab.pki.write_pem_files(tmp_path)
    (tmp_path / "cas.pem").write_bytes(lab.pki.root.cert_pem() + lab.pki.intermediate.cert_pem())
    return tmp_path


@pytest.mark.integration
@pytest.mark.parametrize(
    ("ca_name", "forged"),
    [
        pytest.param("root", False, id="root"),
        pytest.param("intermediate", False, id="intermediate"),
        pytest.param("intermediate", True, id="intermediate-bad-signature"),
    ],
)
async def test_openssl_verifies_the_served_crl(
    lab: Lab, pem_dir: Path, ca_name: str, forged: bool
) -> None:
    openssl = require_program("openssl")
    if forged:
        lab.faults.inject(FaultKind.CRL_BAD_SIGNATURE, ca_name)
    response = await lab.get(f"/crl/{ca_name}.crl")
    crl_path = pem_dir / f"{ca_name}.crl"
    crl_path.write_bytes(response.body)
    status, output = await run(
        openssl, "crl", "-inform", "DER", "-in", str(crl_path),
        "-CAfile", str(pem_dir / "cas.pem"), "-noout",
    )  # fmt: skip
    if forged:
        assert "verify OK" not in output
        assert "verify fail" in output
    else:
        assert status == 0, output
        assert "verify OK" in output


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "issuer", "revoke", "expected"),
    [
        pytest.param("smp1", "intermediate", False, "good", id="smp1-good"),
        pytest.param("smp1", "intermediate", True, "revoked", id="smp1-revoked"),
        pytest.param("intermediate", "root", False, "good", id="intermediate-good-root-signed"),
    ],
)
async def test_openssl_ocsp_client_verifies_the_responder(
    lab: Lab, pem_dir: Path, name: str, issuer: str, revoke: bool, expected: str
) -> None:
    openssl = require_program("openssl")
    if revoke:
        lab.faults.inject(FaultKind.CERT_REVOKED, name)
    status, output = await run(
        openssl, "ocsp", "-issuer", str(pem_dir / f"{issuer}.pem"),
        "-cert", str(pem_dir / f"{name}.pem"), "-url", lab.pki.ocsp_url,
        "-CAfile", str(pem_dir / "root.pem"),
        # The delegated responder's certificate is in the response; its issuer is not.
        "-verify_other", str(pem_dir / "intermediate.pem"),
        "-resp_text",
    )  # fmt: skip
    assert status == 0, output
    assert "Response verify OK" in output
    assert f"{pem_dir / name}.pem: {expected}" in output
    assert "WARNING" not in output  # e.g. no nonce echoed, or status times out of range
    if revoke:
        assert "Reason: keyCompromise" in output
