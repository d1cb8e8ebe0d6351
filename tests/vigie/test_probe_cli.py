"""`vigie probe KIND`: one check, its reason printed, the exit code telling ok from failed."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator

import pytest

from vigie.lab.dns import LabNameServer
from vigie.lab.faults import FaultKind, Faults
from vigie.lab.zone import LabZone


@pytest.fixture
async def nameserver() -> AsyncIterator[LabNameServer]:
    async with LabNameServer(LabZone(participants=10), Faults()) as server:
        yield server


async def vigie(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vigie",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def server_of(nameserver: LabNameServer) -> str:
    host, port = nameserver.address
    return f"{host}:{port}"


async def test_a_healthy_zone_prints_ok_and_exits_0(nameserver: LabNameServer) -> None:
    code, out, err = await vigie(
        "probe", "soa", "--zone", "edelivery.test", "--server", server_of(nameserver)
    )
    assert (code, err) == (0, "")
    assert out.startswith(f"ok dns_soa edelivery.test@{server_of(nameserver)}: ok")
    assert "serial: 2026112201" in out


async def test_a_failing_check_names_its_reason_in_json_and_exits_1(
    nameserver: LabNameServer,
) -> None:
    nameserver.faults.inject(FaultKind.NS_SERVFAIL, nameserver.name)
    code, out, _ = await vigie(
        "probe", "soa", "--zone", "edelivery.test", "--server", server_of(nameserver), "--json"
    )
    document = json.loads(out)
    assert code == 1
    assert (document["success"], document["reason"]) == (False, "servfail")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--zone", "."], "zone: the zone cannot be the DNS root", id="root-zone"),
        pytest.param(
            ["--zone", "x.test", "--server", "127.0.0.1:99999"],
            "the port must be 1-65535",
            id="bad-server",
        ),
        pytest.param(["--zone", "x.test", "--timeout", "0s"], "longer than 0s", id="zero-timeout"),
    ],
)
async def test_bad_usage_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    code, out, err = await vigie("probe", "soa", *args)
    assert code == 2
    assert out == ""
    assert message in err
    assert len(err.splitlines()) == 1
