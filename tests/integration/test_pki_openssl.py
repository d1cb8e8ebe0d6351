"""Cross-checks with openssl: a CA made by `openssl ca`, its CRL and its `openssl ocsp`
responder must get the same verdict from vigie as from openssl itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from probes import CheckDefaults, FailureReason, ProbeEnv
from probes.crl import CrlTarget, expand_crl, probe_crl
from probes.ocsp import OcspTarget, expand_ocsp, probe_ocsp
from tests.support import free_port, require_program
from vigie.http import outbound_client

pytestmark = pytest.mark.integration

CA_CONFIG = """
[ca]
default_ca = test_ca
[test_ca]
dir = {dir}
database = $dir/index.txt
serial = $dir/serial
crlnumber = $dir/crlnumber
new_certs_dir = $dir/issued
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 30
default_crl_days = 1
policy = anything
unique_subject = no
[anything]
commonName = supplied
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
crlDistributionPoints = URI:{crl_url}
authorityInfoAccess = OCSP;URI:{ocsp_url}
[responder]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
"""


async def run(*command: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


@dataclass
class OpensslCa:
    openssl: str
    dir: Path
    crl_port: int
    ocsp_port: int

    def path(self, name: str) -> str:
        return str(self.dir / name)

    async def ok(self, *args: str) -> str:
        status, output = await run(self.openssl, *args)
        assert status == 0, output
        return output

    async def create(self) -> None:
        (self.dir / "issued").mkdir()
        (self.dir / "index.txt").write_text("")
        (self.dir / "serial").write_text("1000\n")
        (self.dir / "crlnumber").write_text("01\n")
        config = CA_CONFIG.format(
            dir=self.dir,
            crl_url=f"http://127.0.0.1:{self.crl_port}/ca.crl",
            ocsp_url=f"http://127.0.0.1:{self.ocsp_port}",
        )
        (self.dir / "ca.cnf").write_text(config)
        await self.self_signed("ca", "openssl test CA")
        await self.self_signed("impostor", "openssl test CA")  # same name, another key
        for name, extensions in (("good", "leaf"), ("bad", "leaf"), ("responder", "responder")):
            await self.issue(name, extensions)
        await self.ok("ca", "-batch", "-config", self.path("ca.cnf"),
                      "-revoke", self.path("bad.pem"), "-crl_reason", "keyCompromise")  # fmt: skip
        await self.gencrl("ca.crl.pem")

    async def self_signed(self, name: str, cn: str) -> None:
        await self.ok(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", self.path(f"{name}.key"), "-out", self.path(f"{name}.pem"),
            "-subj", f"/CN={cn}", "-days", "30",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        )  # fmt: skip

    async def issue(self, name: str, extensions: str) -> None:
        await self.ok(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", self.path(f"{name}.key"), "-out", self.path(f"{name}.csr"),
            "-subj", f"/CN={name}",
        )  # fmt: skip
        await self.ok(
            "ca", "-batch", "-config", self.path("ca.cnf"), "-extensions", extensions,
            "-in", self.path(f"{name}.csr"), "-out", self.path(f"{name}.pem"), "-notext",
        )  # fmt: skip

    async def gencrl(self, out: str, *, impostor: bool = False) -> None:
        signer = ["-keyfile", self.path("impostor.key"), "-cert", self.path("impostor.pem")]
        await self.ok("ca", "-batch", "-config", self.path("ca.cnf"), "-gencrl",
                      "-out", self.path(out), *(signer if impostor else []))  # fmt: skip


@pytest.fixture
async def ca(tmp_path: Path) -> OpensslCa:
    authority = OpensslCa(require_program("openssl"), tmp_path, free_port(), free_port())
    await authority.create()
    return authority


@pytest.fixture
async def crl_server(ca: OpensslCa) -> AsyncIterator[dict[str, bytes]]:
    """Serves `served["ca.crl"]` at the CRL URL the certificates name."""
    served: dict[str, bytes] = {}

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=served[request.match_info["name"]])

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", ca.crl_port).start()
    try:
        yield served
    finally:
        await runner.cleanup()


async def vigie_crl_verdict(ca: OpensslCa, cert: str) -> FailureReason:
    target = CrlTarget(issuer=[Path(ca.path("ca.pem"))], monitored=[Path(ca.path(cert))])
    (check,) = expand_crl(target, CheckDefaults())
    async with outbound_client() as http:
        return (await probe_crl(check, ProbeEnv(http=http))).reason


@pytest.mark.parametrize("cert", ["good.pem", "bad.pem"])
@pytest.mark.parametrize("form", ["DER", "PEM"])
async def test_crl_verdict_matches_openssl_verify(
    ca: OpensslCa, crl_server: dict[str, bytes], cert: str, form: str
) -> None:
    await ca.ok("crl", "-in", ca.path("ca.crl.pem"), "-outform", form, "-out", ca.path("ca.crl"))
    crl_server["ca.crl"] = (ca.dir / "ca.crl").read_bytes()
    status, output = await run(
        ca.openssl, "verify", "-crl_check", "-CAfile", ca.path("ca.pem"),
        "-CRLfile", ca.path("ca.crl.pem"), ca.path(cert),
    )  # fmt: skip
    openssl_revoked = status != 0 and "revoked" in output
    assert status == 0 or openssl_revoked, output
    ours = await vigie_crl_verdict(ca, cert)
    assert ours in (FailureReason.OK, FailureReason.CERTIFICATE_REVOKED)
    assert (ours is FailureReason.CERTIFICATE_REVOKED) == openssl_revoked


async def test_a_crl_signed_by_another_key_fails_for_both(
    ca: OpensslCa, crl_server: dict[str, bytes]
) -> None:
    await ca.gencrl("forged.crl.pem", impostor=True)
    crl_server["ca.crl"] = (ca.dir / "forged.crl.pem").read_bytes()
    _, output = await run(
        ca.openssl, "crl", "-in", ca.path("forged.crl.pem"), "-CAfile", ca.path("ca.pem"), "-noout"
    )
    assert "verify OK" not in output
    assert await vigie_crl_verdict(ca, "bad.pem") is FailureReason.CRL_BAD_SIGNATURE


@pytest.fixture
async def responder(ca: OpensslCa) -> AsyncIterator[None]:
    process = await asyncio.create_subprocess_exec(
        ca.openssl, "ocsp", "-index", ca.path("index.txt"), "-CA", ca.path("ca.pem"),
        "-rsigner", ca.path("responder.pem"), "-rkey", ca.path("responder.key"),
        "-port", str(ca.ocsp_port), "-nmin", "5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        # Ready once it says so; a probe connection instead would wedge openssl 3.0's server.
        assert process.stdout is not None
        seen = b""
        while b"waiting for OCSP client connections" not in seen:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
            assert line, f"openssl ocsp exited: {seen.decode()}"
            seen += line
        yield
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("method", ["post", "get"])
@pytest.mark.parametrize("cert", ["good.pem", "bad.pem"])
async def test_ocsp_verdict_matches_the_openssl_client(
    ca: OpensslCa, responder: None, cert: str, method: str
) -> None:
    output = await ca.ok(
        "ocsp", "-issuer", ca.path("ca.pem"), "-cert", ca.path(cert),
        "-url", f"http://127.0.0.1:{ca.ocsp_port}", "-CAfile", ca.path("ca.pem"),
    )  # fmt: skip
    assert "Response verify OK" in output
    openssl_status = output.split(f"{ca.path(cert)}: ", 1)[1].split()[0]
    target = OcspTarget(
        certificate=Path(ca.path(cert)), issuer=Path(ca.path("ca.pem")), method=method
    )
    (check,) = expand_ocsp(target, CheckDefaults())
    async with outbound_client() as http:
        result = await probe_ocsp(check, ProbeEnv(http=http))
    expected = {"good": FailureReason.OK, "revoked": FailureReason.CERTIFICATE_REVOKED}
    assert result.reason is expected[openssl_status], result.detail
