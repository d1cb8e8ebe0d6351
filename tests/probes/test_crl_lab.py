"""CRL and OCSP checks against the lab's PKI server: every lab fault, the metrics, the CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from probes import (
    PROBERS,
    Check,
    CheckDefaults,
    FailureReason,
    ProbeCollector,
    ProbeEnv,
    ResultBook,
    Runner,
)
from probes.crl import CrlTarget, expand_crl
from probes.ocsp import OcspTarget, expand_ocsp
from vigie.http import outbound_client
from vigie.lab.faults import FaultKind, Faults
from vigie.lab.pki import LabPki
from vigie.lab.pki_server import PkiServer


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Lab:
    server: PkiServer
    faults: Faults
    pki: LabPki
    clock: Clock
    pem: Path
    http: httpx.AsyncClient
    book: ResultBook

    def env(self) -> ProbeEnv:
        # A fresh cache per call: each run sees the server's current answer.
        return ProbeEnv(http=self.http, wall_clock=lambda: self.clock.now.timestamp())

    def crl_checks(self, check_timeout: float = 5.0) -> dict[str, Check]:
        target = CrlTarget.model_validate(
            {
                "issuer": [str(self.pem / "root.pem"), str(self.pem / "intermediate.pem")],
                "monitored": [str(self.pem / f"{n}.pem") for n in ("smp1", "ap1", "intermediate")],
                "timeout": check_timeout,
            }
        )
        checks = expand_crl(target, _defaults())
        return {check.target.rsplit("/", 1)[-1].removesuffix(".crl"): check for check in checks}

    def ocsp_check(self, name: str, issuer: str, method: str = "post") -> Check:
        target = OcspTarget.model_validate(
            {
                "certificate": str(self.pem / f"{name}.pem"),
                "issuer": str(self.pem / f"{issuer}.pem"),
                "method": method,
            }
        )
        (check,) = expand_ocsp(target, _defaults())
        return check

    async def observe(self, check_timeout: float = 5.0) -> dict[str, str]:
        env = self.env()
        runner = Runner(PROBERS, env, self.book)
        checks = {f"crl {ca}": check for ca, check in self.crl_checks(check_timeout).items()}
        checks["ocsp smp1"] = self.ocsp_check("smp1", "intermediate")
        checks["ocsp intermediate"] = self.ocsp_check("intermediate", "root", "get")
        return {name: str((await runner.run(check)).reason) for name, check in checks.items()}


def _defaults() -> CheckDefaults:
    return CheckDefaults(interval=60.0, timeout=5.0)


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    faults, clock = Faults(), Clock()
    async with PkiServer(faults, clock=clock) as server:
        pki = LabPki.generate(server.url, now=clock.now)
        server.attach(pki)
        pki.write_pem_files(tmp_path)
        async with outbound_client() as http:
            yield Lab(server, faults, pki, clock, tmp_path, http, ResultBook())


HEALTHY = {
    "crl intermediate": "ok",
    "crl root": "ok",
    "ocsp smp1": "ok",
    "ocsp intermediate": "ok",
}


@pytest.mark.parametrize(
    ("kind", "target", "params", "changes"),
    [
        pytest.param(
            FaultKind.CRL_STALE, "intermediate", {}, {"crl intermediate": "crl_stale"},
            id="crl_stale",
        ),
        pytest.param(
            FaultKind.CRL_UNREACHABLE, "intermediate", {},
            {"crl intermediate": "crl_unreachable"}, id="crl_unreachable-dropped",
        ),
        pytest.param(
            FaultKind.CRL_UNREACHABLE, "root", {"mode": "hang", "delay": 30},
            {"crl root": "crl_unreachable"}, id="crl_unreachable-hang",
        ),
        pytest.param(
            FaultKind.CRL_BAD_SIGNATURE, "root", {}, {"crl root": "crl_bad_signature"},
            id="crl_bad_signature",
        ),
        pytest.param(
            FaultKind.CRL_LISTS_MONITORED, "smp1", {}, {"crl intermediate": "revoked"},
            id="crl_lists_monitored-ocsp-still-good",
        ),
        pytest.param(
            FaultKind.CERT_REVOKED, "smp1", {},
            {"crl intermediate": "revoked", "ocsp smp1": "revoked"}, id="cert_revoked-smp1",
        ),
        pytest.param(
            FaultKind.CERT_REVOKED, "intermediate", {},
            {"crl root": "revoked", "ocsp intermediate": "revoked"},
            id="cert_revoked-intermediate",
        ),
        pytest.param(
            FaultKind.CERT_REVOKED, "retired", {}, {}, id="unmonitored-certificate-revoked"
        ),
    ],
)  # fmt: skip
async def test_each_lab_fault_is_the_reason_it_should_be(
    lab: Lab,
    kind: FaultKind,
    target: str,
    params: dict[str, object],
    changes: dict[str, str],
) -> None:
    assert await lab.observe(check_timeout=0.5) == HEALTHY
    fault = lab.faults.inject(kind, target, **params)
    faulty = await lab.observe(check_timeout=0.5)
    assert {name: reason for name, reason in faulty.items() if HEALTHY[name] != reason} == changes
    lab.faults.heal(fault.id)
    assert await lab.observe(check_timeout=0.5) == HEALTHY


async def test_an_ocsp_check_is_named_by_its_certificate_subject(lab: Lab) -> None:
    check = lab.ocsp_check("smp1", "intermediate")
    assert check.target.startswith("smp1.edelivery.test@http://127.0.0.1:")
    assert check.target.endswith("/ocsp")


async def test_a_crl_close_to_next_update_is_expiring(lab: Lab) -> None:
    lab.server.set_crl_window("intermediate", timedelta(minutes=-5), timedelta(hours=2))
    assert (await lab.observe())["crl intermediate"] == "crl_expiring"


async def test_a_missing_crl_and_a_pki_not_ready_are_http_errors(lab: Lab) -> None:
    runner = Runner(PROBERS, lab.env(), lab.book)
    check = lab.crl_checks()["intermediate"]
    params = check.params
    missing = Check("crl", "pki", "404", type(params)(
        f"{lab.server.url}/crl/smp1.crl", params.issuers, params.monitored,
        params.warn_before, params.refresh, params.max_size,
    ), 60.0, 5.0)  # fmt: skip
    result = await runner.run(missing)
    assert result.reason is FailureReason.CRL_HTTP_ERROR
    assert "404" in result.detail


async def test_stale_and_unreachable_crls_raise_different_alerts(lab: Lab) -> None:
    lab.faults.inject(FaultKind.CRL_STALE, "intermediate")
    lab.faults.inject(FaultKind.CRL_UNREACHABLE, "root")
    await lab.observe(check_timeout=0.5)
    registry = CollectorRegistry()
    registry.register(ProbeCollector(lab.book))
    text = generate_latest(registry).decode()
    reasons = [
        line for line in text.splitlines() if line.startswith('probe_failure_reason{kind="crl"')
    ]
    stale = [line for line in reasons if 'reason="crl_stale"' in line]
    unreachable = [line for line in reasons if 'reason="crl_unreachable"' in line]
    assert len(stale) == len(unreachable) == 1
    assert "intermediate.crl" in stale[0]
    assert "root.crl" in unreachable[0]
    assert not any('reason="revoked"' in line for line in reasons)
    # The stale CRL still says when it expired; the unreachable one says nothing it cannot know.
    assert 'probe_crl_next_update_timestamp_seconds{kind="crl"' in text
    assert text.count("probe_crl_next_update_timestamp_seconds{") == 1
    assert "probe_ocsp_next_update_timestamp_seconds{" in text


async def test_a_crl_number_going_backwards_is_noticed_across_a_server_restart(lab: Lab) -> None:
    monotonic = [0.0]
    env = dataclasses.replace(lab.env(), monotonic=lambda: monotonic[0])
    runner = Runner(PROBERS, env, lab.book)
    check = lab.crl_checks()["intermediate"]
    for _ in range(3):  # each change of faults reissues the CRL with the next number
        lab.faults.inject(FaultKind.NS_DOWN, "ns1")
        monotonic[0] += check.params.refresh
        assert (await runner.run(check)).reason is FailureReason.OK
    port = int(lab.server.url.rsplit(":", 1)[1])
    await lab.server.stop()
    async with PkiServer(Faults(), port=port, clock=lab.clock) as restarted:
        restarted.attach(lab.pki)  # a new CA server that starts numbering again
        monotonic[0] += check.params.refresh
        result = await runner.run(check)
    assert result.reason is FailureReason.CRL_NUMBER_DECREASED
    assert "1 after 3" in result.detail


# -- the command line ------------------------------------------------------------------


async def vigie(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vigie", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_crl_ok_and_revoked(lab: Lab) -> None:
    url = lab.pki.crl_url("intermediate")
    issuer = str(lab.pem / "intermediate.pem")
    code, out, err = await vigie("probe", "crl", "--url", url, "--issuer", issuer)
    assert (code, err) == (0, "")
    assert out.startswith(f"ok crl {url}: ok")
    lab.faults.inject(FaultKind.CERT_REVOKED, "smp1")
    code, out, _ = await vigie(
        "probe", "crl", "--url", url, "--issuer", issuer,
        "--monitored", str(lab.pem / "smp1.pem"), "--json",
    )  # fmt: skip
    document = json.loads(out)
    assert code == 1
    assert (document["reason"], document["kind"]) == ("revoked", "crl")


async def test_cli_ocsp_and_its_exit_codes(lab: Lab) -> None:
    cert, issuer = str(lab.pem / "smp1.pem"), str(lab.pem / "intermediate.pem")
    code, out, _ = await vigie("probe", "ocsp", "--cert", cert, "--issuer", issuer, "--json")
    assert code == 0
    assert json.loads(out)["reason"] == "ok"
    lab.faults.inject(FaultKind.CERT_REVOKED, "smp1")
    code, out, _ = await vigie("probe", "ocsp", "--cert", cert, "--issuer", issuer)
    assert code == 1
    assert ": revoked (" in out
    code, out, err = await vigie("probe", "ocsp", "--cert", cert, "--issuer", cert)
    assert code == 2
    assert "did not issue the certificate" in err
    code, out, err = await vigie("probe", "crl", "--url", "ldap://x/y")
    assert code == 2
    assert len(err.splitlines()) == 1
