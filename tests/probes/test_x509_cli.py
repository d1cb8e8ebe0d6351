"""`vigie probe cert`: a chain or a file checked from the command line, exit 0/1/2."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
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
