"""`vigie diagnose` against the lab: the first broken link is named for every fault the lab
can inject, and a whole path is said to be whole."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer

from probes import FailureReason, ProbeEnv
from tests.vigie.test_probe_cli import vigie
from ticket_sink.api import hash_token
from vigie.app import create_app
from vigie.config import VigieConfig, parse_config
from vigie.diagnose import Diagnosis, DiagnosisOptions, diagnose
from vigie.http import outbound_client
from vigie.lab import FaultKind, Lab, LabSettings
from vigie.lab.lab import NAMESERVER_NAMES
from vigie.lab.pki import INTERMEDIATE

pytestmark = pytest.mark.integration
R = FailureReason


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    async with Lab(LabSettings(participants=4, workdir=tmp_path)) as running:
        yield running


def options(lab: Lab, **changes: Any) -> DiagnosisOptions:
    pki = Path(str(lab.settings.workdir)) / "pki"
    settings: dict[str, Any] = {
        "zone": lab.zone.origin,
        "servers": tuple(lab.nameserver_addresses().values()),
        "trust_anchors": str(pki / "root.pem"),
        "intermediates": str(pki / f"{INTERMEDIATE}.pem"),
        "ca_file": str(pki / "root.pem"),
        "timeout": 3.0,
        "deadline": 30.0,
    }
    return DiagnosisOptions(**{**settings, **changes})


def hosting_smp(lab: Lab) -> str:
    index = lab.zone.smp_index(lab.zone.participant(0))
    assert index is not None
    return lab.smps[index].name


async def run(lab: Lab, **changes: Any) -> Diagnosis:
    async with outbound_client() as http:
        return await diagnose(lab.zone.participant(0), options(lab, **changes), ProbeEnv(http=http))


async def test_a_whole_path_is_whole(lab: Lab) -> None:
    diagnosis = await run(lab)
    assert diagnosis.broken is None, diagnosis.lines()
    assert diagnosis.headline.startswith("path whole:")
    names = [step.name for step in diagnosis.steps]
    assert names[:4] == ["sml", "sml_other_naming", "smp_service_group", "smp_metadata"]
    assert {"endpoint", "endpoint_certificate"} <= set(names)
    assert "naptr -> 127.0.0.1, cname -> smp" in diagnosis.steps[1].detail


# fault -> (what it targets, the broken step, the reasons that step may give)
FAULTS = {
    "name-servers-down": (FaultKind.NS_DOWN, "nameservers", "sml", {R.TIMEOUT}),
    "record-removed": (FaultKind.PARTICIPANT_REMOVED, "participant", "sml", {R.NXDOMAIN}),
    "wrong-smp": (
        FaultKind.PARTICIPANT_WRONG_SMP, "participant", "smp_service_group", {R.SMP_NOT_FOUND}
    ),
    "smp-503": (
        FaultKind.SMP_5XX, "smp", "smp_service_group", {R.SMP_HTTP_ERROR, R.SMP_SATURATED}
    ),
    "bad-signature": (FaultKind.SMP_BAD_SIGNATURE, "smp", "smp_metadata", {R.SMP_BAD_SIGNATURE}),
    "ap-certificate-expired": (
        FaultKind.CERT_EXPIRED, "ap1", "endpoint", {R.TLS_HANDSHAKE_FAILED, R.CERT_EXPIRED}
    ),
    "ap-certificate-revoked": (
        FaultKind.CERT_REVOKED, "ap1", "endpoint_certificate", {R.CERTIFICATE_REVOKED}
    ),
    "crl-unreachable": (
        FaultKind.CRL_UNREACHABLE, INTERMEDIATE, "endpoint_certificate",
        {R.REVOCATION_UNDETERMINED},
    ),
}  # fmt: skip


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_each_lab_fault_is_named_as_the_first_broken_link(lab: Lab, fault: str) -> None:
    kind, target, step, reasons = FAULTS[fault]
    targets = {
        "nameservers": list(NAMESERVER_NAMES),
        "participant": [lab.zone.participant(0)],
        "smp": [hosting_smp(lab)],
    }.get(target, [target])
    for each in targets:
        lab.inject(kind, each)
    diagnosis = await run(lab)
    broken = diagnosis.broken
    assert broken is not None, diagnosis.lines()
    assert (broken.name, broken.reason in reasons) == (step, True), diagnosis.lines()
    assert diagnosis.headline.startswith(f"broken at {step} ")
    if fault == "crl-unreachable":
        assert "unreachable" in broken.detail  # never "revoked"


async def test_the_command_prints_the_broken_link_first_and_exits_1(lab: Lab) -> None:
    pki = Path(str(lab.settings.workdir)) / "pki"
    servers = [
        arg for address in lab.nameserver_addresses().values() for arg in ("--server", address)
    ]
    args = [
        "diagnose", lab.zone.participant(0), "--zone", lab.zone.origin, *servers,
        "--trust-anchors", str(pki / "root.pem"), "--intermediates", str(pki / "intermediate.pem"),
        "--ca-file", str(pki / "root.pem"), "--timeout", "3s",
    ]  # fmt: skip
    code, out, _ = await vigie(*args, "--json")
    document = json.loads(out)
    assert (code, document["whole"]) == (0, True), document["headline"]
    lab.inject(FaultKind.SMP_BAD_SIGNATURE, hosting_smp(lab))
    code, out, _ = await vigie(*args)
    assert code == 1
    assert out.splitlines()[0].startswith("broken at smp_metadata ")
    code, out, err = await vigie("diagnose", "0088:no-scheme", "--zone", lab.zone.origin)
    assert (code, out) == (2, "")
    assert "SCHEME::VALUE" in err


# -- the same over the API --------------------------------------------------------------

VIEWER, ADMIN = "viewer-token-for-diagnosis", "admin-token-for-diagnosis"


def agent_config(lab: Lab, tmp_path: Path, max_concurrent: int = 2) -> VigieConfig:
    pki = Path(str(lab.settings.workdir)) / "pki"
    servers = json.dumps(list(lab.nameserver_addresses().values()))
    return parse_config(
        f"""
store: {{url: "sqlite:///{tmp_path}/vigie.db"}}
defaults: {{interval: 1h, timeout: 3s}}
api:
  tokens:
    - {{name: desk, role: viewer, hash: "{hash_token(VIEWER)}"}}
    - {{name: boss, role: admin, hash: "{hash_token(ADMIN)}"}}
  diagnosis:
    trust_anchors: {pki / "root.pem"}
    intermediates: {pki / "intermediate.pem"}
    ca_file: {pki / "root.pem"}
    step_timeout: 3s
    max_concurrent: {max_concurrent}
targets:
  sml:
    - zone: {lab.zone.origin}
      nameservers: {servers}
      zone_health: false
"""
    )


async def test_the_api_diagnoses_a_watched_zone_and_refuses_others(
    lab: Lab, tmp_path: Path
) -> None:
    app = create_app(agent_config(lab, tmp_path))
    pid = quote(lab.zone.participant(0), safe="")
    path = f"/api/v1/participants/{pid}/diagnosis"
    async with TestClient(TestServer(app)) as client:
        viewer = {"Authorization": f"Bearer {VIEWER}"}
        lab.inject(FaultKind.SMP_BAD_SIGNATURE, hosting_smp(lab))
        response = await client.get(path, params={"zone": lab.zone.origin}, headers=viewer)
        assert response.status == 200, await response.text()
        document = await response.json()
        assert (document["whole"], document["broken"]) == (False, "smp_metadata")
        assert document["headline"].startswith("broken at smp_metadata ")

        other = {"zone": "participant.sml.elsewhere.test"}
        refused = await client.get(path, params=other, headers=viewer)
        assert refused.status == 403
        assert (await refused.json())["field"] == "zone"

        bad = await client.get(
            "/api/v1/participants/0088%3Ano-scheme/diagnosis",
            params={"zone": lab.zone.origin},
            headers=viewer,
        )
        assert bad.status == 400
        anonymous = await client.get(path, params={"zone": lab.zone.origin})
        assert anonymous.status == 401
        spec = await (await client.get("/api/v1/openapi.json")).json()
        assert "/participants/{id}/diagnosis" in spec["paths"]


async def test_the_api_bounds_diagnoses_running_at_once(lab: Lab, tmp_path: Path) -> None:
    app = create_app(agent_config(lab, tmp_path, max_concurrent=1))
    pid = quote(lab.zone.participant(0), safe="")
    path = f"/api/v1/participants/{pid}/diagnosis"
    lab.inject(FaultKind.SMP_SLOW, hosting_smp(lab), delay=1.5)
    async with TestClient(TestServer(app)) as client:
        headers = {"Authorization": f"Bearer {VIEWER}"}
        params = {"zone": lab.zone.origin}
        first = asyncio.create_task(client.get(path, params=params, headers=headers))
        await asyncio.sleep(0.3)  # the first is under way (its SMP answers in 1.5 s)
        second = await client.get(path, params=params, headers=headers)
        assert second.status == 429
        assert second.headers["Retry-After"] == "5"
        assert (await first).status == 200
