"""Whole-path verdicts with revocation against the lab's PKI server.

A certificate check with `revocation: crl` judges every certificate on the path by its
CRL distribution point: revoking the lab's issuing CA fails every leaf under it, naming
the CA; making the root's CRL (which speaks for the issuing CA) unreachable leaves every
leaf `revocation_undetermined`, never revoked and never ok.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from probes import PROBERS, CheckDefaults, FailureReason, ProbeEnv, ProbeResult, ResultBook, Runner
from probes.x509 import CertificateTarget, expand_certificates
from tests.probes.tls_test_servers import material, tls_server
from vigie.http import outbound_client
from vigie.lab.faults import FaultKind, Faults
from vigie.lab.pki import LabPki
from vigie.lab.pki_server import PkiServer

# Every certificate the lab's issuing CA signs that is not revoked from the start.
LEAVES = ("smp1", "smp2", "ap1", "smp_signing")
ISSUING_CA = "CN=vigie lab issuing CA"


@dataclass
class Lab:
    faults: Faults
    pem: Path
    now: datetime
    server: PkiServer
    pki: LabPki

    async def verdicts(self, **options: object) -> dict[str, ProbeResult]:
        found = {}
        async with outbound_client() as http:
            # A fresh environment per look: each sees the server's current CRLs.
            env = ProbeEnv(http=http, wall_clock=self.now.timestamp)
            runner = Runner(PROBERS, env, ResultBook())
            for name in LEAVES:
                target = CertificateTarget.model_validate(
                    {
                        "file": str(self.pem / f"{name}.pem"),
                        "trust_anchors": str(self.pem / "root.pem"),
                        "intermediates": str(self.pem / "intermediate.pem"),
                        "revocation": "crl",
                        "warn_before": "1d",
                        # Room for the validator's first import on a busy machine;
                        # the unreachable CRL fails at once (connection dropped).
                        "timeout": 10.0,
                        **options,
                    }
                )
                (check,) = expand_certificates(target, CheckDefaults(timeout=10.0))
                found[name] = await runner.run(check)
        return found


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    faults, now = Faults(), datetime.now(UTC).replace(microsecond=0)
    async with PkiServer(faults, clock=lambda: now) as server:
        pki = LabPki.generate(server.url, now=now)
        server.attach(pki)
        pki.write_pem_files(tmp_path)
        yield Lab(faults, tmp_path, now, server, pki)


async def test_a_healthy_path_is_ok_with_its_crls_checked(lab: Lab) -> None:
    results = await lab.verdicts()
    assert {name: str(r.reason) for name, r in results.items()} == dict.fromkeys(LEAVES, "ok")
    assert lab.server.served["crl/root"] >= 1
    assert lab.server.served["crl/intermediate"] >= 1


@pytest.mark.parametrize("profile", ["rfc5280", "webpki"])
async def test_a_revoked_intermediate_fails_every_leaf_under_it_by_name(
    lab: Lab, profile: str
) -> None:
    lab.faults.inject(FaultKind.CERT_REVOKED, "intermediate")
    results = await lab.verdicts(profile=profile)
    for name, result in results.items():
        assert result.reason is FailureReason.CERTIFICATE_REVOKED, (name, result.detail)
        assert ISSUING_CA in result.detail
        assert "intermediate" in result.detail


@pytest.mark.parametrize("revoked", [False, True], ids=["crl-unreachable", "revoked-too"])
async def test_an_unreachable_crl_leaves_every_leaf_undetermined(lab: Lab, revoked: bool) -> None:
    if revoked:  # listed on the CRL nobody can read: still never `revoked`
        lab.faults.inject(FaultKind.CERT_REVOKED, "intermediate")
    lab.faults.inject(FaultKind.CRL_UNREACHABLE, "root")
    results = await lab.verdicts()
    for name, result in results.items():
        assert result.reason is FailureReason.REVOCATION_UNDETERMINED, (name, result.detail)
        assert "/crl/root" in result.detail
        assert ISSUING_CA in result.detail
        assert "undetermined" in result.detail


@pytest.mark.parametrize("profile", ["webpki", "rfc5280"])
async def test_a_tls_endpoint_with_revocation_names_its_revoked_intermediate(
    lab: Lab, profile: str
) -> None:
    async def look() -> ProbeResult:
        async with outbound_client() as http:
            target = CertificateTarget.model_validate(
                {
                    "url": f"https://127.0.0.1:{port}",
                    "server_name": "smp1.edelivery.test",
                    "trust_anchors": str(lab.pem / "root.pem"),
                    "revocation": "crl",
                    "profile": profile,
                    "timeout": 10.0,
                }
            )
            (check,) = expand_certificates(target, CheckDefaults(timeout=10.0))
            env = ProbeEnv(http=http, wall_clock=lab.now.timestamp)
            return await Runner(PROBERS, env, ResultBook()).run(check)

    async with tls_server(material(lab.pki.endpoint("smp1"))) as port:
        healthy = await look()
        lab.faults.inject(FaultKind.CERT_REVOKED, "intermediate")
        revoked = await look()
    assert healthy.success, healthy.detail
    assert revoked.reason is FailureReason.CERTIFICATE_REVOKED
    assert f"intermediate `{ISSUING_CA}" in revoked.detail
    revoked_series = [s for s in revoked.series if s.name == "problem"]
    assert {s.labels["reason"]: s.value for s in revoked_series}["revoked"] == 1.0


async def test_a_revoked_leaf_names_the_leaf(lab: Lab) -> None:
    lab.faults.inject(FaultKind.CERT_REVOKED, "smp1")
    results = await lab.verdicts()
    assert results["smp1"].reason is FailureReason.CERTIFICATE_REVOKED
    assert "end-entity" in results["smp1"].detail
    assert all(results[name].success for name in LEAVES if name != "smp1")


def test_a_check_without_revocation_never_loads_the_rfc5280_validator(tmp_path: Path) -> None:
    # The TLS checks' cost must not move: the validator and asn1crypto load only for
    # checks that ask for the RFC 5280 profile or for revocation.
    script = f"""
import asyncio, sys
from datetime import UTC, datetime
from pathlib import Path
import probes, vigie.app
from probes import CheckDefaults, ProbeEnv
from probes.x509 import CertificateTarget, expand_certificates, probe_x509
from vigie.lab.pki import LabPki
folder = Path({str(tmp_path)!r})
LabPki.generate("http://127.0.0.1:9", now=datetime.now(UTC)).write_pem_files(folder)
target = CertificateTarget(
    file=folder / "smp1.chain.pem", trust_anchors=folder / "root.pem", profile="webpki"
)
(check,) = expand_certificates(target, CheckDefaults())
result = asyncio.run(probe_x509(check, ProbeEnv()))
assert result.success, result.detail
print(sorted(name for name in ("pyhanko_certvalidator", "asn1crypto") if name in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("mode", ["ocsp", "both", "prefer_ocsp"])
async def test_ocsp_answers_give_the_same_verdicts(lab: Lab, mode: str) -> None:
    healthy = await lab.verdicts(revocation=mode)
    assert {name: str(r.reason) for name, r in healthy.items()} == dict.fromkeys(LEAVES, "ok")
    lab.faults.inject(FaultKind.CERT_REVOKED, "smp1")
    results = await lab.verdicts(revocation=mode)
    assert results["smp1"].reason is FailureReason.CERTIFICATE_REVOKED
    if mode != "both":  # with both, whichever source the validator reads first names it
        assert "end-entity `CN=smp1.edelivery.test" in results["smp1"].detail
        assert "revoked by OCSP" in results["smp1"].detail
    assert all(results[name].success for name in LEAVES if name != "smp1")
