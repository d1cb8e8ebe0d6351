"""Certificates published in SMP metadata: the x509 check over the lab's real smp results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from probes import PROBERS, CheckDefaults, FailureReason, ProbeEnv, ProbeResult, ResultBook, Runner
from probes.certs import CertificateFacts
from probes.http_discovery import findings_view
from probes.smp import SmpEndpoint, SmpFindings, SmpTarget, expand_smp
from probes.x509 import CertificateTarget, X509Findings, expand_certificates
from vigie.config import ConfigError, parse_config
from vigie.http import outbound_client
from vigie.lab import Lab, LabSettings

R = FailureReason
DEFAULTS = CheckDefaults(timeout=5.0)


@pytest.fixture
async def lab_results(tmp_path: Path) -> AsyncIterator[LabResults]:
    """The lab's smp checks of participants 0 and 1 (all document types): a book of results."""
    workdir = tmp_path / "lab"
    async with Lab(LabSettings(participants=4, workdir=workdir)) as lab:
        root = workdir / "pki" / "root.pem"
        book = ResultBook()
        async with outbound_client() as http:
            runner = Runner(PROBERS, ProbeEnv(http=http), book)
            for index in range(2):
                pid = lab.zone.participant(index)
                target = SmpTarget(
                    url=lab.zone.smp_url(lab.zone.smp_index(pid) or 0),
                    participant=pid,
                    document_type="all",
                    ca_file=root,
                    trust_anchors=root,
                )
                for check in expand_smp(target, DEFAULTS):
                    result = await runner.run(check)
                    assert result.success, result.detail
        yield LabResults(lab, book, workdir / "pki")


class LabResults:
    def __init__(self, lab: Lab, book: ResultBook, pki: Path) -> None:
        self.lab, self.book, self.pki = lab, book, pki
        self.ap = lab.pki.endpoint("ap1").cert
        # The lab's AP certificate has 20 days left: judged a few hours after it was made.
        self.now = self.ap.not_valid_after_utc.timestamp() - 20 * 86400 + 3600


def smp_book(endpoints: list[SmpEndpoint]) -> ResultBook:
    """A book holding one smp result with `endpoints`, as the runner records it."""
    (check,) = expand_smp(
        SmpTarget(url="https://smp.test", participant="iso6523-actorid-upis::0088:1"), DEFAULTS
    )
    book = ResultBook()
    findings = SmpFindings(
        "iso6523-actorid-upis::0088:1", "https://smp.test", (), (), tuple(endpoints)
    )
    book.record(check, ProbeResult(R.OK, findings=findings), 0.1, 0.0)
    return book


def published(der: bytes, index: int = 0) -> SmpEndpoint:
    return SmpEndpoint(
        participant=f"iso6523-actorid-upis::0088:{index}",
        document_type="busdox-docid-qns::invoice",
        process="cenbii-procid-ubl::billing",
        transport_profile="peppol-transport-as4-v2_0",
        url=f"https://ap{index}.test/as4",
        certificate=CertificateFacts.of_der(der),
        certificate_der=der,
    )


async def run(
    book: ResultBook | None, at: float, wired: bool = True, **settings: Any
) -> ProbeResult:
    (check,) = expand_certificates(CertificateTarget(smp_metadata=True, **settings), DEFAULTS)
    view = findings_view(book or ResultBook())
    env = ProbeEnv(findings=view if wired else None, wall_clock=lambda: at)
    return await Runner(PROBERS, env, ResultBook()).run(check)


def certificate_series(result: ProbeResult) -> list[dict[str, str]]:
    return [dict(s.labels) for s in result.series if s.name == "cert_not_after_timestamp_seconds"]


@pytest.mark.parametrize(
    ("anchors", "warn_before", "reason"),
    [
        pytest.param("intermediate.pem", "30d", R.CERT_EXPIRING, id="expiring-ap"),
        pytest.param("intermediate.pem", "7d", R.OK, id="ok-with-a-shorter-margin"),
        pytest.param("root.pem", "7d", R.CHAIN_UNTRUSTED, id="root-alone-lacks-the-issuing-ca"),
        pytest.param(None, "7d", R.OK, id="no-anchors"),
    ],
)
async def test_the_lab_access_point_certificate_is_judged(
    lab_results: LabResults, anchors: str | None, warn_before: str, reason: FailureReason
) -> None:
    trust = str(lab_results.pki / anchors) if anchors else None
    result = await run(
        lab_results.book, lab_results.now, trust_anchors=trust, warn_before=warn_before
    )
    assert result.reason is reason, result.detail
    ap = lab_results.ap
    # Both participants publish the same AP certificate: watched once.
    assert certificate_series(result) == [
        {"cn": "ap1.edelivery.test", "serial": format(ap.serial_number, "x"),
         "role": "smp_endpoint"}
    ]  # fmt: skip
    assert result.values["published_certificates"] == 1
    assert result.values["over_budget"] == 0
    assert result.values["leaf_not_after_timestamp_seconds"] == ap.not_valid_after_utc.timestamp()
    problems = {s.labels["reason"] for s in result.series if s.name == "problem" and s.value}
    assert ("cert_expiring" in problems) == (warn_before == "30d")
    assert isinstance(result.findings, X509Findings)
    (monitored,) = result.findings.monitored
    assert (monitored.certificate, monitored.role) == (ap, "smp_endpoint")


async def test_expiring_names_the_certificate(lab_results: LabResults) -> None:
    trust = str(lab_results.pki / "intermediate.pem")
    result = await run(lab_results.book, lab_results.now, trust_anchors=trust)
    assert result.detail == "ap1.edelivery.test expires in 19 days"


def lab_certificates(lab_results: LabResults) -> list[bytes]:
    pki = lab_results.lab.pki
    return [pki.endpoint(name).cert.public_bytes(Encoding.DER) for name in ("ap1", "smp1", "smp2")]


@pytest.mark.parametrize(
    ("settings", "watched", "over", "detail_end"),
    [
        pytest.param({"max": 2}, 2, 1, "; 1 more beyond max 2, not judged", id="one-over-max"),
        pytest.param({}, 3, 0, "certificate(s)", id="all-within-default-max"),
    ],
)
async def test_the_budget_counts_what_lies_beyond(
    lab_results: LabResults, settings: dict[str, Any], watched: int, over: int, detail_end: str
) -> None:
    ders = lab_certificates(lab_results)
    book = smp_book([published(der, i) for i, der in enumerate([*ders, ders[0]])])
    result = await run(book, lab_results.now, warn_before="1d", **settings)
    assert result.reason is R.OK, result.detail
    assert result.values["published_certificates"] == 3
    assert (result.values["watched_certificates"], result.values["over_budget"]) == (watched, over)
    assert len(certificate_series(result)) == watched
    assert result.detail.endswith(detail_end)
    # A stable choice: the lowest DER bytes first.
    kept = {x509.load_der_x509_certificate(der).serial_number for der in sorted(ders)[:watched]}
    assert {int(s["serial"], 16) for s in certificate_series(result)} == kept


@pytest.mark.parametrize(
    ("book", "wired", "reason", "detail"),
    [
        pytest.param(None, True, R.OK, "no SMP metadata seen yet", id="nothing-seen-yet"),
        pytest.param(smp_book([]), True, R.OK, "no SMP metadata seen yet",
                     id="metadata-without-endpoints"),
        pytest.param(smp_book([published(b"\x30\x82\x01")]), True, R.CERT_MALFORMED,
                     "unparsable certificate in the SMP metadata of iso6523-actorid-upis::0088:0",
                     id="unparsable-der"),
        pytest.param(None, False, R.INTERNAL_ERROR, "no findings view", id="view-missing"),
    ],
)  # fmt: skip
async def test_without_certificates_to_judge(
    book: ResultBook | None, wired: bool, reason: FailureReason, detail: str
) -> None:
    result = await run(book, datetime(2026, 3, 2, tzinfo=UTC).timestamp(), wired=wired)
    assert result.reason is reason
    assert detail in result.detail
    assert not certificate_series(result)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param("{smp_metadata: true, url: 'https://a.test'}",
                     "exactly one of url and file, or smp_metadata: true alone", id="with-url"),
        pytest.param("{smp_metadata: true, file: /x}",
                     "exactly one of url and file, or smp_metadata: true alone", id="with-file"),
        pytest.param("{smp_metadata: false}",
                     "exactly one of url and file, or smp_metadata: true alone", id="none-at-all"),
        pytest.param("{file: /x, max: 5}", "max applies to smp_metadata only", id="max-on-file"),
        pytest.param("{smp_metadata: true, server_name: a.test}",
                     "server_name applies to a url only", id="server-name"),
        pytest.param("{smp_metadata: true, max: 0}", "greater than or equal to 1", id="max-zero"),
        pytest.param("{smp_metadata: true, max: 1000}", "less than or equal to 200",
                     id="max-beyond-the-budget"),
    ],
)  # fmt: skip
def test_config_errors_name_the_entry(entry: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(f"targets:\n  certificates:\n    - {entry}\n")
    assert "targets.certificates[0]" in str(raised.value)
    assert message in str(raised.value)


def test_an_smp_metadata_target_defaults() -> None:
    config = parse_config("targets:\n  certificates:\n    - smp_metadata: true\n")
    (check,) = config.checks()
    assert (check.kind, check.service, check.target) == ("x509", "certificates", "smp_metadata")
    assert check.params.max == 50
