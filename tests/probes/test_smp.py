"""SMP checks against the lab's SMPs over real HTTPS (the lab's root as CA and anchor)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from probes import PROBERS, CheckDefaults, FailureReason, ProbeEnv, ProbeResult, ResultBook, Runner
from probes.certs import CertificateFacts
from probes.endpoint_clients import EndpointClients
from probes.smp import SmpEndpoint, SmpFindings, SmpTarget, expand_smp
from tests.lab.https_helpers import make_throwaway_pki
from vigie.http import outbound_client
from vigie.lab import FaultKind, Lab, LabSettings
from vigie.lab.smp_xml import DOCUMENT_TYPES, TRANSPORT_PROFILE

TWO_YEARS = 2 * 365 * 86400.0


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    async with Lab(LabSettings(participants=10, workdir=tmp_path)) as running:
        yield running


@pytest.fixture
async def env() -> AsyncIterator[ProbeEnv]:
    async with outbound_client() as http:
        yield ProbeEnv(http=http)


def root_pem(lab: Lab) -> Path:
    assert lab.settings.workdir is not None
    return lab.settings.workdir / "pki" / "root.pem"


async def probe(env: ProbeEnv, limit: float = 5.0, **settings: Any) -> ProbeResult:
    """Run one check of `settings` as the agent does, with a time limit of `limit` s."""
    (check,) = expand_smp(SmpTarget(**settings), CheckDefaults(timeout=limit))
    return await Runner(PROBERS, env, ResultBook()).run(check)


def on_smp1(lab: Lab, **settings: Any) -> dict[str, Any]:
    """Settings of a check of participant 0 (hosted by smp1), trusting the lab's root."""
    defaults = {
        "url": lab.smps[0].url,
        "participant": lab.zone.participant(0),
        "ca_file": root_pem(lab),
        "trust_anchors": root_pem(lab),
    }
    return {**defaults, **settings}


async def test_all_metadata_verified_endpoints_as_findings(lab: Lab, env: ProbeEnv) -> None:
    result = await probe(env, **on_smp1(lab, document_type="all", health="domismp"))
    assert (result.reason, result.detail) == (FailureReason.OK, "")
    assert result.values["document_types"] == 2
    assert result.values["endpoints"] == 2
    signer = lab.pki.signing.cert
    assert result.values["signer_not_after_timestamp_seconds"] == (
        signer.not_valid_after_utc.timestamp()
    )
    assert list(result.phases) == ["service_group", "metadata", "verify", "health"]
    assert [(s.name, dict(s.labels), s.value) for s in result.series] == [
        ("health_up", {"implementation": "domismp"}, 1.0)
    ]
    assert isinstance(result.findings, SmpFindings)
    assert result.findings.document_types == DOCUMENT_TYPES
    assert lab.access_point is not None
    assert result.findings.endpoints == tuple(
        SmpEndpoint(
            participant=lab.zone.participant(0),
            document_type=document_type,
            process="cenbii-procid-ubl::urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
            transport_profile=TRANSPORT_PROFILE,
            url=f"{lab.access_point.url}/as4",
            certificate=CertificateFacts.of(lab.pki.endpoint("ap1").cert),
            certificate_der=lab.pki.endpoint("ap1").cert.public_bytes(Encoding.DER),
        )
        for document_type in DOCUMENT_TYPES
    )


@pytest.mark.parametrize(
    ("settings", "document_types", "endpoints"),
    [
        pytest.param({}, 2, None, id="service-group-only"),
        pytest.param({"document_type": "first"}, 2, 1, id="first"),
        pytest.param({"document_type": DOCUMENT_TYPES[1]}, 2, 1, id="named"),
        pytest.param({"verify_signature": False, "trust_anchors": None}, 2, None, id="unverified"),
    ],
)
async def test_what_a_healthy_smp_shows(
    lab: Lab,
    env: ProbeEnv,
    settings: dict[str, Any],
    document_types: int,
    endpoints: int | None,
) -> None:
    result = await probe(env, **on_smp1(lab, **settings))
    assert result.reason is FailureReason.OK, result.detail
    assert result.values["document_types"] == document_types
    assert result.values.get("endpoints") == endpoints


async def test_the_second_smp_and_a_participant_it_does_not_host(lab: Lab, env: ProbeEnv) -> None:
    hosted = await probe(
        env, **on_smp1(lab, url=lab.smps[1].url, participant=lab.zone.participant(1))
    )
    elsewhere = await probe(env, **on_smp1(lab, url=lab.smps[1].url))
    assert hosted.reason is FailureReason.OK
    assert (elsewhere.reason, elsewhere.detail) == (
        FailureReason.SMP_NOT_FOUND,
        "ServiceGroup: HTTP 404",
    )


async def test_an_unknown_document_type_is_not_found(lab: Lab, env: ProbeEnv) -> None:
    result = await probe(env, **on_smp1(lab, document_type="busdox-docid-qns::urn:unknown"))
    assert result.reason is FailureReason.SMP_NOT_FOUND
    assert result.detail == "metadata of busdox-docid-qns::urn:unknown: HTTP 404"
    assert result.values["document_types"] == 2  # what was learnt before the failure


@pytest.mark.parametrize(
    ("kind", "params", "limit", "reason", "detail"),
    [
        pytest.param(
            FaultKind.SMP_5XX, {}, 5.0, FailureReason.SMP_HTTP_ERROR, "HTTP 503", id="5xx"
        ),
        pytest.param(
            FaultKind.SMP_5XX,
            {"status": 500},
            5.0,
            FailureReason.SMP_HTTP_ERROR,
            "HTTP 500",
            id="5xx-500",
        ),
        pytest.param(
            FaultKind.SMP_SATURATED,
            {"capacity": 0},
            5.0,
            FailureReason.SMP_SATURATED,
            "HTTP 503, Retry-After 1",
            id="saturated",
        ),
        pytest.param(
            FaultKind.SMP_SLOW,
            {"delay": 30},
            0.3,
            FailureReason.TIMEOUT,
            "no result within 0.3s",
            id="slower-than-the-timeout",
        ),
        pytest.param(
            FaultKind.CERT_EXPIRED,
            {},
            5.0,
            FailureReason.TLS_HANDSHAKE_FAILED,
            "certificate has expired",
            id="expired-tls-certificate",
        ),
    ],
)
async def test_lab_faults_show_as_their_reason(
    lab: Lab,
    env: ProbeEnv,
    kind: FaultKind,
    params: dict[str, Any],
    limit: float,
    reason: FailureReason,
    detail: str,
) -> None:
    assert (await probe(env, **on_smp1(lab))).success  # the same client, before and after
    fault = lab.inject(kind, "smp1", **params)
    result = await probe(env, limit=limit, **on_smp1(lab))
    assert result.reason is reason
    assert detail in result.detail
    lab.faults.heal(fault.id)
    assert (await probe(env, **on_smp1(lab))).success


async def test_without_the_lab_root_the_tls_certificate_is_not_trusted(
    lab: Lab, env: ProbeEnv
) -> None:
    result = await probe(env, **on_smp1(lab, ca_file=None))
    assert result.reason is FailureReason.TLS_HANDSHAKE_FAILED
    assert "unable to get local issuer certificate" in result.detail


async def test_a_signer_of_another_pki_is_untrusted(
    lab: Lab, env: ProbeEnv, tmp_path: Path
) -> None:
    foreign = tmp_path / "foreign.pem"
    foreign.write_bytes(make_throwaway_pki().ca_pem)
    result = await probe(env, **on_smp1(lab, document_type="first", trust_anchors=foreign))
    assert result.reason is FailureReason.SMP_UNTRUSTED_SIGNER
    assert "does not chain to the trust anchors" in result.detail
    assert isinstance(result.findings, SmpFindings)
    assert result.findings.endpoints == ()


@pytest.mark.parametrize(
    "shift",
    [pytest.param(TWO_YEARS, id="after-not-after"), pytest.param(-TWO_YEARS, id="before")],
)
async def test_a_signer_outside_its_validity_is_expired(
    lab: Lab, env: ProbeEnv, shift: float
) -> None:
    def shifted_clock() -> float:
        return lab.pki.generated_at.timestamp() + shift

    shifted = dataclasses.replace(env, wall_clock=shifted_clock)
    result = await probe(shifted, **on_smp1(lab, document_type="first"))
    assert result.reason is FailureReason.SMP_SIGNER_EXPIRED
    assert "vigie lab SMP signing" in result.detail


async def test_an_unanswered_health_url_fails_the_check_after_good_metadata(
    lab: Lab, env: ProbeEnv
) -> None:
    # The lab SMP is no Oxalis: its /status is an unknown participant, 404.
    result = await probe(env, **on_smp1(lab, document_type="first", health="oxalis"))
    assert (result.reason, result.detail) == (
        FailureReason.SMP_UNHEALTHY,
        "oxalis health: HTTP 404",
    )
    assert result.values["endpoints"] == 1
    assert [series.value for series in result.series] == [0.0]


async def test_one_ca_client_per_ca_file_is_kept(lab: Lab, env: ProbeEnv) -> None:
    for _ in range(2):
        assert (await probe(env, **on_smp1(lab))).success
    clients = env.clients
    assert isinstance(clients, EndpointClients)
    assert len(clients) == 1
