"""The assembled lab: every part up, wired together, and controllable over HTTP."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import dns.asyncquery
import dns.message
import dns.rcode
import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509

from probes.naming import NamingScheme, ParticipantId, participant_name
from vigie.lab import FaultKind, Lab, LabSettings
from vigie.lab.control import control_app


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    async with Lab(LabSettings(participants=50, workdir=tmp_path)) as running:
        yield running


@pytest.fixture
async def control(lab: Lab) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(control_app(lab))) as client:
        yield client


async def query(lab: Lab, name: str, rdtype: str, server: int = 0) -> dns.message.Message:
    host, port = lab.nameservers[server].address
    return await dns.asyncquery.udp(
        dns.message.make_query(name, rdtype), host, port=port, timeout=2
    )


async def test_a_participant_resolves_to_an_smp_that_serves_it_over_verified_tls(
    lab: Lab, tmp_path: Path
) -> None:
    participant = lab.zone.participant(3)
    name = participant_name(ParticipantId.parse(participant), lab.zone.origin, NamingScheme.NAPTR)
    response = await query(lab, name, "NAPTR")
    (naptr,) = response.answer[0]
    smp_url = naptr.regexp.decode().split("!")[2]
    assert smp_url in {smp.url for smp in lab.smps}

    root = tmp_path / "pki" / "root.pem"
    assert x509.load_pem_x509_certificate(root.read_bytes()) == lab.pki.root.cert
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=root)) as client:
        reply = await client.get(f"{smp_url}/{quote(participant, safe='')}")
    assert reply.status_code == 200
    assert b"ServiceGroup" in reply.content


async def test_both_name_servers_serve_the_same_zone(lab: Lab) -> None:
    serials = []
    for server in range(2):
        response = await query(lab, lab.zone.origin, "SOA", server)
        serials.append(response.answer[0][0].serial)
    assert serials[0] == serials[1] == lab.zone.serial


async def test_describe_lists_every_service(lab: Lab) -> None:
    info = lab.describe()
    assert set(info["nameservers"]) == {"ns1", "ns2"}
    assert set(info["smps"]) == {"smp1", "smp2"}
    assert set(info["access_points"]) == {"ap1"}
    assert info["pki"]["ocsp"].startswith("http://127.0.0.1:")
    assert info["participants"] == len(lab.zone)


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        pytest.param(FaultKind.NS_DOWN, "ns9", id="unknown-name-server"),
        pytest.param(FaultKind.CRL_STALE, "smp1", id="crl-fault-on-an-endpoint"),
        pytest.param(
            FaultKind.PARTICIPANT_REMOVED, "iso6523-actorid-upis::0000:none", id="stranger"
        ),
    ],
)
def test_inject_refuses_targets_the_lab_does_not_have(
    lab: Lab, kind: FaultKind, target: str
) -> None:
    with pytest.raises(ValueError, match=r"cannot target|is not a participant"):
        lab.inject(kind, target)
    assert lab.faults.active() == []


async def test_control_injects_and_heals_a_fault_that_the_name_server_obeys(
    lab: Lab, control: TestClient
) -> None:
    reply = await control.post("/faults", json={"kind": "ns_servfail", "target": "ns2"})
    assert reply.status == 201
    fault = await reply.json()
    assert (await (await control.get("/faults")).json()) == [fault]
    assert (await query(lab, lab.zone.origin, "SOA", server=1)).rcode() == dns.rcode.SERVFAIL
    assert (await query(lab, lab.zone.origin, "SOA", server=0)).rcode() == dns.rcode.NOERROR

    healed = await control.delete(f"/faults/{fault['id']}")
    assert healed.status == 200
    assert (await query(lab, lab.zone.origin, "SOA", server=1)).rcode() == dns.rcode.NOERROR
    assert (await control.delete(f"/faults/{fault['id']}")).status == 404


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(b"not json", "must be JSON", id="not-json"),
        pytest.param(b"[1]", "JSON object", id="not-an-object"),
        pytest.param(b'{"kind": "meteor", "target": "ns1"}', "unknown kind", id="unknown-kind"),
        pytest.param(b'{"kind": "ns_down", "target": "ns7"}', "choose one of", id="bad-target"),
        pytest.param(b'{"kind": "ns_down", "target": "ns1", "x": 1}', "unknown fields", id="extra"),
    ],
)
async def test_control_explains_bad_requests(control: TestClient, body: bytes, detail: str) -> None:
    reply = await control.post("/faults", data=body)
    assert reply.status == 400
    assert reply.content_type == "application/problem+json"
    assert detail in (await reply.json())["detail"]


async def test_control_lists_fault_kinds_and_heals_everything(
    lab: Lab, control: TestClient
) -> None:
    kinds = await (await control.get("/faults/kinds")).json()
    assert set(kinds) == {str(kind) for kind in FaultKind}
    assert kinds["ns_down"] == ["ns1", "ns2"]
    lab.inject(FaultKind.NS_DOWN, "ns1")
    lab.inject(FaultKind.SMP_5XX, "smp2")
    assert (await control.delete("/faults")).status == 200
    assert lab.faults.active() == []
    described = await (await control.get("/")).json()
    assert described["zone"] == lab.zone.origin
