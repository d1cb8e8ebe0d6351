"""The x509 prober end to end: local TLS servers and files, its config, its metrics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from probes import (
    CheckDefaults,
    FailureReason,
    ProbeCollector,
    ProbeEnv,
    ProbeResult,
    ResultBook,
    Runner,
)
from probes.cert_checks import MonitoredCertificate
from probes.x509 import CertificateTarget, X509Findings, expand_certificates, probe_x509
from tests.probes.tls_test_servers import closed_port, days, material, raw_server, tls_server
from vigie.config import ConfigError, parse_config
from vigie.lab.pki import LabPki

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
R = FailureReason
CHECK_LABELS = frozenset({"kind", "service", "target"})


@pytest.fixture(scope="module")
def pki() -> LabPki:
    return LabPki.generate("http://127.0.0.1:9", now=NOW)


@pytest.fixture
def anchors(pki: LabPki, tmp_path: Path) -> Path:
    path = tmp_path / "anchors" / "root.pem"
    path.parent.mkdir()
    path.write_bytes(pki.trust_anchor_pem())
    return path


def clock(at: datetime) -> Callable[[], float]:
    return lambda: at.timestamp()


def own_labels(labels: dict[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset((name, value) for name, value in labels.items() if name not in CHECK_LABELS)


async def run(target: CertificateTarget, at: datetime = NOW) -> ProbeResult:
    (check,) = expand_certificates(target, CheckDefaults(timeout=5.0))
    return await probe_x509(check, ProbeEnv(wall_clock=clock(at)))


@pytest.mark.parametrize(
    ("endpoint", "server_name", "reason"),
    [
        pytest.param("smp1", "smp1.edelivery.test", R.OK, id="ok"),
        pytest.param("smp1", None, R.OK, id="by-ip-address"),
        pytest.param("smp2", "smp2.edelivery.test", R.CERT_EXPIRING, id="expiring"),
        pytest.param("smp1-expired", "smp1.edelivery.test", R.CERT_EXPIRED, id="expired"),
        pytest.param("smp1", "ap1.edelivery.test", R.HOSTNAME_MISMATCH, id="wrong-name"),
    ],
)
async def test_endpoint_verdicts(
    pki: LabPki, anchors: Path, endpoint: str, server_name: str | None, reason: FailureReason
) -> None:
    async with tls_server(material(pki.by_name(endpoint))) as port:
        target = CertificateTarget(
            url=f"https://127.0.0.1:{port}", server_name=server_name, trust_anchors=str(anchors)
        )
        result = await run(target)
    assert result.reason is reason, result.detail
    assert {"connect", "tls", "validate"} <= set(result.phases)
    assert isinstance(result.findings, X509Findings)
    monitored = result.findings.monitored
    assert all(isinstance(m, MonitoredCertificate) for m in monitored)
    assert [m.certificate for m in monitored] == list(pki.by_name(endpoint).chain)
    assert result.values["leaf_not_after_timestamp_seconds"] == (
        pki.by_name(endpoint).cert.not_valid_after_utc.timestamp()
    )


async def test_another_root_is_chain_untrusted(pki: LabPki, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(LabPki.generate("http://127.0.0.1:9", now=NOW).trust_anchor_pem())
    async with tls_server(material(pki.endpoint("smp1"))) as port:
        result = await run(CertificateTarget(url=f"https://127.0.0.1:{port}",
                                             trust_anchors=str(stranger)))  # fmt: skip
    assert result.reason is R.CHAIN_UNTRUSTED
    assert "trust anchors" in result.detail


async def test_the_same_chain_is_judged_again_as_the_clock_moves(
    pki: LabPki, anchors: Path
) -> None:
    async with tls_server(material(pki.endpoint("smp1"))) as port:
        target = CertificateTarget(url=f"https://127.0.0.1:{port}", trust_anchors=str(anchors))
        (check,) = expand_certificates(target, CheckDefaults(timeout=5.0))
        verdicts = []
        for at in (NOW, NOW + days(340), NOW + days(400), NOW):
            result = await probe_x509(check, ProbeEnv(wall_clock=clock(at)))
            verdicts.append(result.reason)
    assert verdicts == [R.OK, R.CERT_EXPIRING, R.CERT_EXPIRED, R.OK]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        pytest.param(None, R.TIMEOUT, id="stalls-mid-handshake"),
        pytest.param(b"SSH-2.0-OpenSSH_9.2\r\n", R.TLS_HANDSHAKE_FAILED, id="not-tls"),
    ],
)
async def test_broken_servers_are_reasons(reply: bytes | None, reason: FailureReason) -> None:
    async with raw_server(reply) as port:
        target = CertificateTarget(url=f"https://127.0.0.1:{port}", timeout=0.5, interval=1)
        (check,) = expand_certificates(target, CheckDefaults())
        result = await probe_x509(check, ProbeEnv())  # its own deadline, before the runner's
    assert result.reason is reason
    assert "tls" in result.phases


async def test_a_closed_port_is_connection_refused() -> None:
    result = await run(CertificateTarget(url=f"https://127.0.0.1:{closed_port()}"))
    assert result.reason is R.CONNECTION_REFUSED


@pytest.mark.parametrize(
    ("content", "reason", "detail"),
    [
        pytest.param(b"\x30\x82\x03", R.CERT_MALFORMED, "not a DER or PEM", id="truncated-der"),
        pytest.param(b"-----BEGIN CERTIFICATE-----\nzz!\n-----END CERTIFICATE-----\n",
                     R.CERT_MALFORMED, "malformed PEM", id="pem-with-garbage"),
        pytest.param(b"", R.CERT_MALFORMED, "empty", id="empty"),
    ],
)  # fmt: skip
async def test_bad_files_are_cert_malformed(
    tmp_path: Path, content: bytes, reason: FailureReason, detail: str
) -> None:
    path = tmp_path / "cert.pem"
    path.write_bytes(content)
    result = await run(CertificateTarget(file=str(path)))
    assert result.reason is reason
    assert detail in result.detail


async def test_a_missing_file_and_unreadable_anchors_are_reasons(
    pki: LabPki, tmp_path: Path
) -> None:
    missing = await run(CertificateTarget(file=str(tmp_path / "nope.pem")))
    assert missing.reason is R.CERT_MALFORMED
    cert = tmp_path / "ok.pem"
    cert.write_bytes(pki.endpoint("smp1").cert_pem())
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(pki.trust_anchor_pem())
    target = CertificateTarget(file=str(cert), trust_anchors=str(anchors))
    anchors.write_bytes(b"garbage")  # replaced by something unreadable after the load
    result = await run(target)
    assert (result.reason, result.detail.startswith("trust anchors:")) == (R.CERT_MALFORMED, True)


async def test_a_directory_of_certificates(pki: LabPki, anchors: Path, tmp_path: Path) -> None:
    directory = tmp_path / "published"
    directory.mkdir()
    (directory / "ap1.der").write_bytes(pki.endpoint("ap1").cert.public_bytes(Encoding.DER))
    (directory / "signing.pem").write_bytes(pki.signing.chain_pem())
    result = await run(CertificateTarget(file=str(directory), trust_anchors=str(anchors)))
    assert result.reason is R.CERT_EXPIRING  # ap1: 20 days left
    labelled = [s for s in result.series if s.name == "cert_not_after_timestamp_seconds"]
    assert {s.labels["cn"] for s in labelled} == {
        "ap1.edelivery.test",
        "vigie lab SMP signing",
        "vigie lab issuing CA",
    }
    ok = await run(CertificateTarget(file=str(directory), trust_anchors=str(anchors),
                                     warn_before="7d"))  # fmt: skip
    assert ok.reason is R.OK


async def test_metrics_use_blackbox_names_where_they_mean_the_same(
    pki: LabPki, anchors: Path
) -> None:
    async with tls_server(material(pki.endpoint("smp2"))) as port:
        target = CertificateTarget(url=f"https://127.0.0.1:{port}", trust_anchors=str(anchors))
        (check,) = expand_certificates(target, CheckDefaults(timeout=5.0))
        book = ResultBook()
        env = ProbeEnv(wall_clock=clock(NOW))
        await Runner({"x509": probe_x509}, env, book).run(check)
    registry = CollectorRegistry()
    registry.register(ProbeCollector(book))
    samples = {
        (sample.name, own_labels(sample.labels)): sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
        if {"kind": "x509"}.items() <= sample.labels.items()
    }
    leaf = pki.endpoint("smp2").cert
    expiry = leaf.not_valid_after_utc.timestamp()
    assert samples["probe_ssl_earliest_cert_expiry", frozenset()] == expiry
    assert samples["probe_ssl_last_chain_expiry_timestamp_seconds", frozenset()] == expiry
    assert samples["probe_tls_version_info", frozenset({("version", "TLSv1.3")})] == 1.0
    assert samples["probe_x509_problem", frozenset({("reason", "cert_expiring")})] == 1.0
    assert samples["probe_x509_problem", frozenset({("reason", "cert_expired")})] == 0.0
    cert_labels = {"cn": "smp2.edelivery.test", "serial": format(leaf.serial_number, "x")}
    key = frozenset({**cert_labels, "role": "leaf"}.items())
    assert samples["probe_x509_cert_not_after_timestamp_seconds", key] == expiry
    assert samples["probe_failure_reason", frozenset({("reason", "cert_expiring")})] == 1.0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param("{url: 'http://smp.test'}", "expected https://HOST[:PORT]", id="http"),
        pytest.param("{url: 'https://a.test', file: /x}", "exactly one of url and file",
                     id="both"),
        pytest.param("{}", "exactly one of url and file", id="neither"),
        pytest.param("{file: /x, server_name: a.test}", "server_name applies to a url only",
                     id="server-name-on-file"),
        pytest.param("{url: 'https://a.test:70000'}", "invalid port", id="bad-port"),
        pytest.param("{file: /x, min_rsa_bits: 100}", "greater than or equal to 512",
                     id="tiny-rsa-policy"),
        pytest.param("{file: /x, warn_before: soon}", "invalid duration", id="bad-duration"),
        pytest.param("{file: /x, verify: false}", "unknown key", id="unknown-key"),
        pytest.param("{file: /x, trust_anchors: /nonexistent/roots.pem}",
                     "roots.pem: No such file or directory", id="unreadable-anchors"),
    ],
)  # fmt: skip
def test_config_errors_name_the_entry(entry: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(f"targets:\n  certificates:\n    - {entry}\n")
    assert "targets.certificates[0]" in str(raised.value)
    assert message in str(raised.value)


def test_a_url_target_defaults() -> None:
    config = parse_config("targets:\n  certificates:\n    - url: https://smp.example.org\n")
    (check,) = config.checks()
    assert (check.kind, check.service, check.target) == ("x509", "tls", "https://smp.example.org")
    assert check.params.address == ("smp.example.org", 443)
    assert check.params.policy.warn_before == days(30)
