"""Reading certificates: PEM bundles, DER, directories, and garbage told apart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from probes.certs import CertificateParseError, parse_certificates, read_certificates
from vigie.lab.pki import LabPki


@pytest.fixture(scope="module")
def pki() -> LabPki:
    return LabPki.generate("http://127.0.0.1:1", now=datetime(2026, 11, 22, tzinfo=UTC))


def test_a_pem_bundle_gives_every_certificate_in_order(pki: LabPki) -> None:
    bundle = pki.endpoint("smp1").chain_pem() + pki.root.cert_pem()
    certificates = parse_certificates(b"text before\n" + bundle + b"text after\n")
    assert certificates == [pki.endpoint("smp1").cert, pki.intermediate.cert, pki.root.cert]


def test_der_gives_one_certificate(pki: LabPki) -> None:
    der = pki.root.cert.public_bytes(serialization.Encoding.DER)
    assert parse_certificates(der) == [pki.root.cert]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"  \n", "empty", id="blank"),
        pytest.param(b"-----BEGIN PRIVATE KEY-----\nAA==\n", "without a CERTIFICATE", id="key"),
        pytest.param(
            b"-----BEGIN CERTIFICATE-----\ngarbage!!\n-----END CERTIFICATE-----\n",
            "malformed PEM",
            id="pem-garbage",
        ),
        pytest.param(b"\x30\x82\x01", "not a DER or PEM", id="truncated-der"),
        pytest.param(b"<html>hello</html>", "not a DER or PEM", id="html"),
    ],
)
def test_bad_input_is_a_parse_error_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(CertificateParseError, match=reason):
        parse_certificates(data)


def test_a_directory_reads_every_certificate_file(pki: LabPki, tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_bytes(pki.root.cert_pem())
    (tmp_path / "b.der").write_bytes(pki.intermediate.cert.public_bytes(serialization.Encoding.DER))
    (tmp_path / "notes.txt").write_text("not a certificate")
    assert read_certificates(tmp_path) == [pki.root.cert, pki.intermediate.cert]


def test_files_without_a_certificate_are_skipped_in_a_directory_and_counted(
    pki: LabPki, tmp_path: Path
) -> None:
    (tmp_path / "ap1.pem").write_bytes(pki.endpoint("ap1").cert_pem())
    (tmp_path / "ap1.key.pem").write_bytes(pki.endpoint("ap1").key_pem())
    (tmp_path / "empty.crt").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("neither: not a certificate file name")
    skipped: list[str] = []
    assert read_certificates(tmp_path, skipped) == [pki.endpoint("ap1").cert]
    assert skipped == ["ap1.key.pem", "empty.crt"]
    # Named alone, a key file is still not a certificate.
    with pytest.raises(CertificateParseError, match="PEM without a CERTIFICATE block"):
        read_certificates(tmp_path / "ap1.key.pem")
    (tmp_path / "ap1.pem").unlink()
    with pytest.raises(CertificateParseError, match="no certificate in the 2 files"):
        read_certificates(tmp_path)


def test_a_bad_file_in_a_directory_is_named(pki: LabPki, tmp_path: Path) -> None:
    (tmp_path / "good.pem").write_bytes(pki.root.cert_pem())
    (tmp_path / "bad.crt").write_bytes(b"nope")
    with pytest.raises(CertificateParseError, match=r"bad\.crt"):
        read_certificates(tmp_path)


def test_an_empty_directory_and_a_missing_file_are_errors(tmp_path: Path) -> None:
    with pytest.raises(CertificateParseError, match="no certificate files"):
        read_certificates(tmp_path)
    with pytest.raises(CertificateParseError, match="No such file"):
        read_certificates(tmp_path / "missing.pem")
