"""`vigie probe cert`: a chain or a file checked from the command line, exit 0/1/2."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.probes.tls_test_servers import material, tls_server
from vigie.lab.pki import LabPki


@pytest.fixture(scope="module")
def pki() -> LabPki:
    return LabPki.generate("http://127.0.0.1:9", now=datetime.now(UTC))


async def vigie(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "vigie", "probe", "cert", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_valid_chain_exits_0(pki: LabPki, tmp_path: Path) -> None:
    root = tmp_path / "root.pem"
    root.write_bytes(pki.trust_anchor_pem())
    async with tls_server(material(pki.endpoint("smp1"))) as port:
        code, out, err = await vigie(
            *("--url", f"https://127.0.0.1:{port}", "--server-name", "smp1.edelivery.test"),
            *("--trust-anchors", str(root)),
        )
    assert (code, err) == (0, "")
    assert out.startswith(f"ok x509 https://127.0.0.1:{port}: ok (smp1.edelivery.test expires in")


async def test_an_expiring_chain_exits_1_with_its_reason_in_json(
    pki: LabPki, tmp_path: Path
) -> None:
    async with tls_server(material(pki.endpoint("smp2"))) as port:
        code, out, _ = await vigie("--url", f"https://127.0.0.1:{port}", "--json")
    document = json.loads(out)
    assert code == 1
    assert (document["reason"], document["success"]) == ("cert_expiring", False)
    assert {"connect", "tls", "validate"} <= set(document["phases"])
    assert "probe_ssl_earliest_cert_expiry" in document["values"]


async def test_a_file(pki: LabPki, tmp_path: Path) -> None:
    path = tmp_path / "smp1.pem"
    path.write_bytes(pki.endpoint("smp1").chain_pem())
    code, out, _ = await vigie("--file", str(path), "--warn-before", "1d")
    assert code == 0, out
    path.write_bytes(b"\x30\x82\x05")
    code, out, _ = await vigie("--file", str(path))
    assert code == 1
    assert ": cert_malformed (" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--url", "http://a.test"], "expected https://HOST[:PORT]", id="http-url"),
        pytest.param(
            ["--url", "https://a.test", "--file", __file__], "not allowed with", id="both"
        ),
        pytest.param([], "one of the arguments --url --file is required", id="neither"),
        pytest.param(
            ["--file", __file__, "--warn-before", "soon"], "invalid duration", id="duration"
        ),
        pytest.param(["--file", "no/such.pem"], "no such file or directory", id="missing"),
    ],
)
async def test_bad_usage_exits_2(args: list[str], message: str) -> None:
    code, out, err = await vigie(*args)
    assert (code, out) == (2, "")
    assert message in err


def _certificate_with_a_long_common_name(common_name: str) -> bytes:
    """A self-signed certificate whose common name breaks X.520's 64-character bound, as
    some real SMP certificates do (cryptography refuses to build one, so asn1crypto does)."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    name = asn1_x509.Name.build({"common_name": common_name})
    now = datetime.now(UTC).replace(microsecond=0)
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": 4242,
            "signature": {"algorithm": "sha256_ecdsa"},
            "issuer": name,
            "validity": {
                "not_before": asn1_x509.Time({"utc_time": now - timedelta(days=1)}),
                "not_after": asn1_x509.Time({"utc_time": now + timedelta(days=300)}),
            },
            "subject": name,
            "subject_public_key_info": asn1_keys.PublicKeyInfo.load(public),
        }
    )
    signature = key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
    certificate = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature_value": signature,
        }
    )
    return certificate.dump()


async def test_a_common_name_over_64_characters_is_reported_without_a_python_warning(
    tmp_path: Path,
) -> None:
    common_name = "smp-signer." + "x" * 70 + ".example"
    path = tmp_path / "long.der"
    path.write_bytes(_certificate_with_a_long_common_name(common_name))
    code, out, err = await vigie("--file", str(path), "--json")
    assert err == ""
    document = json.loads(out)
    assert code in (0, 1), out
    assert common_name in json.dumps(document)
