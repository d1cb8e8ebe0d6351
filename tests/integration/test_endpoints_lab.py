"""Endpoint availability and capacity checks against the lab's SMPs and Access Point,
with every HTTP fault the lab can inject, and `vigie probe http|capacity` as users run it."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from probes import PROBERS, CheckDefaults, FailureReason, ProbeEnv, ProbeResult, ResultBook, Runner
from probes.capacity import CapacityTarget, expand_capacity
from probes.dns import SmlTarget, expand_sml
from probes.http import HttpFindings, HttpTarget, expand_http
from probes.http_discovery import (
    HttpDiscoveryTarget,
    expand_http_discovery,
    findings_view,
)
from probes.smp import SmpTarget, expand_smp
from tests.vigie.test_probe_cli import vigie
from vigie.http import outbound_client
from vigie.lab import FaultKind, Lab, LabSettings

pytestmark = pytest.mark.integration

HEALTH = {"smp1": "/monitor/is-alive", "smp2": "/monitor/is-alive", "ap1": "/status"}


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    async with Lab(LabSettings(participants=4, workdir=tmp_path)) as running:
        yield running


def root_of(lab: Lab) -> str:
    return str(Path(str(lab.settings.workdir)) / "pki" / "root.pem")


def url_of(lab: Lab, name: str) -> str:
    assert lab.access_point is not None
    servers = {smp.name: smp.url for smp in lab.smps} | {"ap1": lab.access_point.url}
    return servers[name] + HEALTH[name]


async def run(model: Any, expand: Any, settings: dict[str, Any], limit: float) -> ProbeResult:
    (check,) = expand(model.model_validate(settings), CheckDefaults(timeout=limit))
    async with outbound_client() as http:
        env = ProbeEnv(http=http)
        try:
            return await Runner(PROBERS, env, ResultBook()).run(check)
        finally:
            await env.aclose()  # kept connections, as the agent closes them


@pytest.mark.parametrize(
    ("name", "fault", "params", "reason"),
    [
        pytest.param("smp1", None, {}, FailureReason.OK, id="smp1-ok"),
        pytest.param("ap1", None, {}, FailureReason.OK, id="ap1-ok"),
        pytest.param("smp2", FaultKind.SMP_SLOW, {"delay": 5}, FailureReason.TIMEOUT, id="slow"),
        pytest.param("ap1", FaultKind.SMP_5XX, {}, FailureReason.HTTP_STATUS, id="ap-503"),
        pytest.param(
            "smp1", FaultKind.SMP_5XX, {"status": 500}, FailureReason.HTTP_STATUS, id="smp-500"
        ),
        pytest.param(
            "smp1",
            FaultKind.CERT_EXPIRED,
            {},
            FailureReason.TLS_HANDSHAKE_FAILED,
            id="expired-certificate",
        ),
    ],
)
async def test_availability_under_lab_faults(
    lab: Lab, name: str, fault: FaultKind | None, params: dict[str, Any], reason: FailureReason
) -> None:
    if fault is not None:
        lab.inject(fault, name, **params)
    settings = {"url": url_of(lab, name), "ca_file": root_of(lab)}
    result = await run(HttpTarget, expand_http, settings, limit=1.0)
    assert result.reason is reason, result.detail
    if reason is FailureReason.OK:
        assert {"connect", "tls", "ttfb", "transfer"} <= set(result.phases)
        assert isinstance(result.findings, HttpFindings)
        assert len(result.findings.tls_chain) >= 1
        assert result.values["probe_ssl_earliest_cert_expiry"] > 0
    if reason is FailureReason.HTTP_STATUS:
        assert result.values["status_code"] == params.get("status", 503)


@pytest.mark.parametrize(
    ("name", "fault", "reason"),
    [
        pytest.param("smp1", None, FailureReason.OK, id="smp1-healthy"),
        pytest.param("ap1", FaultKind.SMP_SATURATED, FailureReason.CAPACITY_SATURATED, id="ap"),
        pytest.param(
            "smp2", FaultKind.SMP_SATURATED, FailureReason.CAPACITY_SATURATED, id="smp-saturated"
        ),
        pytest.param("smp1", FaultKind.SMP_5XX, FailureReason.CAPACITY_DEGRADED, id="smp-500"),
    ],
)
async def test_capacity_under_lab_faults(
    lab: Lab, name: str, fault: FaultKind | None, reason: FailureReason
) -> None:
    if fault is FaultKind.SMP_5XX:
        lab.inject(fault, name, status=500)
    elif fault is not None:
        lab.inject(fault, name, capacity=2, delay=0.05)
    settings = {
        "url": url_of(lab, name),
        "ca_file": root_of(lab),
        "concurrency": 8,
        "duration": 1.5,
        "rate": 200,
    }
    result = await run(CapacityTarget, expand_capacity, settings, limit=30.0)
    assert result.reason is reason, result.detail
    assert result.values["baseline_latency_seconds"] > 0


async def test_cli_http_json(lab: Lab) -> None:
    args = ["--url", url_of(lab, "ap1"), "--ca-file", root_of(lab), "--body-regex", "status: ok"]
    code, out, err = await vigie("probe", "http", *args, "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["reason"] == "ok"
    assert document["values"]["status_code"] == 200


async def test_cli_capacity_refuses_beyond_safe_limits_without_force(lab: Lab) -> None:
    args = ["--url", url_of(lab, "smp1"), "--ca-file", root_of(lab)]
    code, _, err = await vigie("probe", "capacity", *args, "--concurrency", "32")
    assert code == 2
    assert "--concurrency beyond the safe limits" in err
    assert "--force" in err
    code, out, err = await vigie(
        "probe", "capacity", *args, "--concurrency", "2", "--duration", "1s", "--json"
    )
    assert (code, err) == (0, "")
    assert json.loads(out)["values"]["latency_p95_seconds"] > 0


async def test_discovery_watches_what_the_sml_and_smp_checks_found(lab: Lab) -> None:
    zone, root = lab.zone, root_of(lab)
    participants = [zone.participant(index) for index in range(2)]
    sml = SmlTarget.model_validate(
        {
            "zone": zone.origin,
            "scheme": "naptr",
            "nameservers": list(lab.nameserver_addresses().values()),
            "participants": [{"id": pid} for pid in participants],
        }
    )
    smp = SmpTarget(
        url=zone.smp_url(zone.smp_index(participants[0]) or 0),
        participant=participants[0],
        document_type="first",
        ca_file=root,
        trust_anchors=root,
    )
    defaults = CheckDefaults(timeout=5.0)
    upstream = [c for c in expand_sml(sml, defaults) if c.kind == "dns_participant"]
    upstream += list(expand_smp(smp, defaults))
    discovery = HttpDiscoveryTarget(
        smp_path="/monitor/is-alive", ca_file=root, valid_status_codes=[200, 405], max=3
    )
    (check,) = expand_http_discovery(discovery, defaults)
    book = ResultBook()
    async with outbound_client() as http:
        env = ProbeEnv(http=http, findings=findings_view(book))
        runner = Runner(PROBERS, env, book)
        for each in upstream:
            assert (await runner.run(each)).success
        result = await runner.run(check)
        assert result.reason is FailureReason.OK, result.detail
        watched = {s.labels["endpoint"] for s in result.series if s.name == "endpoint_up"}
        assert lab.access_point is not None
        assert f"{lab.access_point.url}/as4" in watched
        assert any(url.endswith("/monitor/is-alive") for url in watched)
        assert len(watched) == 3  # both SMPs (participants 0 and 1 differ), one AP
        assert result.values["over_budget"] == 0
        lab.inject(FaultKind.SMP_5XX, "ap1")
        failed = await runner.run(check)
        assert failed.reason is FailureReason.HTTP_STATUS
        assert failed.values["failing"] == 1


async def test_discovery_without_the_view_says_so() -> None:
    (check,) = expand_http_discovery(HttpDiscoveryTarget(), CheckDefaults())
    result = await Runner(PROBERS, ProbeEnv(), ResultBook()).run(check)
    assert result.reason is FailureReason.INTERNAL_ERROR
    assert "findings view" in result.detail


@pytest.mark.parametrize("keep_alive", [False, True], ids=["fresh", "kept"])
async def test_insecure_skip_verify_accepts_what_verification_refuses(
    lab: Lab, keep_alive: bool
) -> None:
    # The lab's root is not among the system's: verified, the handshake fails.
    settings: dict[str, Any] = {"url": url_of(lab, "smp1"), "keep_alive": keep_alive}
    refused = await run(HttpTarget, expand_http, settings, limit=1.0)
    assert refused.reason is FailureReason.TLS_HANDSHAKE_FAILED, refused.detail

    lab.inject(FaultKind.CERT_EXPIRED, "smp1")
    accepted = await run(
        HttpTarget, expand_http, {**settings, "insecure_skip_verify": True}, limit=1.0
    )
    assert accepted.reason is FailureReason.OK, accepted.detail
    # The expired certificate still shows, as blackbox_exporter shows it: in the past.
    assert 0 < accepted.values["probe_ssl_earliest_cert_expiry"] < time.time()
