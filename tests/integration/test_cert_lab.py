"""Certificate checks against the running lab, cross-checked with the openssl command line.

Every certificate reason the lab can produce is reached here: near-expiry endpoints
(smp2 has 5 days left, ap1 20), the CERT_EXPIRED fault, and trust anchors the chain
does not lead to. openssl is the independent witness: `s_client -showcerts` must see the
chain we fetch, `verify` must agree with our trust verdict.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from probes import CheckDefaults, FailureReason, ProbeEnv, ProbeResult
from probes.tls_chain import fetch_chain
from probes.x509 import CertificateTarget, X509Findings, expand_certificates, probe_x509
from tests.support import require_program
from vigie.demo import lab_agent_config
from vigie.lab import FaultKind, Lab, LabSettings
from vigie.lab.pki import LabPki

pytestmark = pytest.mark.integration
R = FailureReason
PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", re.DOTALL)


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    async with Lab(LabSettings(participants=10, workdir=tmp_path / "lab")) as running:
        yield running


@pytest.fixture
def root_pem(lab: Lab) -> Path:
    assert lab.settings.workdir is not None
    return lab.settings.workdir / "pki" / "root.pem"


def endpoint_url(lab: Lab, name: str) -> str:
    urls = {smp.name: smp.url for smp in lab.smps}
    assert lab.access_point is not None
    urls[lab.access_point.name] = lab.access_point.url
    return urls[name]


async def check(lab: Lab, name: str, anchors: Path) -> ProbeResult:
    target = CertificateTarget(
        url=endpoint_url(lab, name),
        server_name=f"{name}.edelivery.test",
        trust_anchors=str(anchors),
    )
    (one,) = expand_certificates(target, CheckDefaults(timeout=5.0))
    return await probe_x509(one, ProbeEnv())


async def run_openssl(*args: str, stdin: bytes = b"") -> tuple[int, bytes]:
    process = await asyncio.create_subprocess_exec(
        require_program("openssl"),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(stdin), timeout=30)
    assert process.returncode is not None
    return process.returncode, out


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        pytest.param("smp1", R.OK, id="smp1-a-year-left"),
        pytest.param("smp2", R.CERT_EXPIRING, id="smp2-5-days-left"),
        pytest.param("ap1", R.CERT_EXPIRING, id="ap1-20-days-left"),
    ],
)
async def test_lab_endpoints(lab: Lab, root_pem: Path, name: str, reason: FailureReason) -> None:
    result = await check(lab, name, root_pem)
    assert result.reason is reason, result.detail
    assert result.values["probe_ssl_last_chain_expiry_timestamp_seconds"] > 0


async def test_cert_expired_fault_and_heal(lab: Lab, root_pem: Path) -> None:
    fault = lab.inject(FaultKind.CERT_EXPIRED, "smp1")
    try:
        expired = await check(lab, "smp1", root_pem)
    finally:
        lab.faults.heal(fault.id)
    assert expired.reason is R.CERT_EXPIRED
    assert "expired 10 days ago" in expired.detail
    assert (await check(lab, "smp1", root_pem)).reason is R.OK


async def test_anchors_the_chain_does_not_lead_to(lab: Lab, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(LabPki.generate("http://127.0.0.1:9").trust_anchor_pem())
    result = await check(lab, "smp1", stranger)
    assert result.reason is R.CHAIN_UNTRUSTED


@pytest.mark.parametrize("name", ["smp1", "ap1"])
async def test_openssl_s_client_sees_the_chain_we_fetch(lab: Lab, name: str) -> None:
    url = endpoint_url(lab, name)
    host_port = url.removeprefix("https://")
    host, port = host_port.rsplit(":", 1)
    servername = f"{name}.edelivery.test"
    fetched = await fetch_chain(host, int(port), server_name=servername, time_limit=5)
    code, out = await run_openssl(
        "s_client", "-showcerts", "-connect", host_port, "-servername", servername, stdin=b""
    )
    assert code == 0, out.decode(errors="replace")
    theirs = tuple(
        x509.load_pem_x509_certificate(block).public_bytes(Encoding.DER)
        for block in PEM_BLOCK.findall(out)
    )
    assert len(theirs) == 2
    assert fetched.chain == theirs


@pytest.mark.parametrize(
    ("fault", "foreign_root", "reason"),
    [
        pytest.param(False, False, R.OK, id="valid"),
        pytest.param(True, False, R.CERT_EXPIRED, id="expired"),
        pytest.param(False, True, R.CHAIN_UNTRUSTED, id="foreign-root"),
    ],
)
async def test_openssl_verify_agrees(
    lab: Lab, root_pem: Path, tmp_path: Path, fault: bool, foreign_root: bool, reason: FailureReason
) -> None:
    anchors = root_pem
    if foreign_root:
        anchors = tmp_path / "stranger.pem"
        anchors.write_bytes(LabPki.generate("http://127.0.0.1:9").trust_anchor_pem())
    injected = lab.inject(FaultKind.CERT_EXPIRED, "smp2") if fault else None
    try:
        result = await check(lab, "smp2", anchors)
    finally:
        if injected is not None:
            lab.faults.heal(injected.id)
    assert result.reason in {reason, R.CERT_EXPIRING} if reason is R.OK else result.reason is reason
    assert isinstance(result.findings, X509Findings)
    leaf, *intermediates = result.findings.chain
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(Encoding.PEM))
    (tmp_path / "untrusted.pem").write_bytes(
        b"".join(cert.public_bytes(Encoding.PEM) for cert in intermediates)
    )
    code, out = await run_openssl(
        "verify",
        *("-CAfile", str(anchors), "-untrusted", str(tmp_path / "untrusted.pem")),
        *("-verify_hostname", "smp2.edelivery.test", str(tmp_path / "leaf.pem")),
    )
    assert (code == 0) is (reason is R.OK), out.decode(errors="replace")
    if reason is R.CERT_EXPIRED:
        assert b"certificate has expired" in out
    if reason is R.CHAIN_UNTRUSTED:
        assert b"unable to get local issuer certificate" in out


async def test_the_demo_agent_watches_every_lab_endpoint_chain(lab: Lab) -> None:
    config = lab_agent_config(lab, store_url="sqlite:///:memory:", listen="127.0.0.1:8942")
    checks = [one for one in config.checks() if one.kind == "x509" and one.service == "tls"]
    assert len(checks) == 3
    results = {one.params.hostname: (await probe_x509(one, ProbeEnv())).reason for one in checks}
    assert results == {
        "smp1.edelivery.test": R.OK,
        "smp2.edelivery.test": R.CERT_EXPIRING,
        "ap1.edelivery.test": R.CERT_EXPIRING,
    }
