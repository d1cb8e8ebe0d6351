"""`vigie probe KIND ... --json | jq .` works for every probe kind and mode, against the lab.

stdout carries one JSON document and nothing else (a sweep's summary, a progress bar and
logs go to stderr); `jq` is the independent reader a person pipes it to.
"""

from __future__ import annotations

import asyncio
import json
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import require_program
from tests.vigie.test_probe_cli import vigie
from vigie.lab import Lab, LabSettings
from vigie.lab.pki import INTERMEDIATE

pytestmark = pytest.mark.integration


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    async with Lab(LabSettings(participants=4, workdir=tmp_path)) as running:
        yield running


def commands(lab: Lab, workdir: Path) -> dict[str, list[str]]:
    pki = workdir / "pki"
    root = str(pki / "root.pem")
    zone = lab.zone.origin
    server = next(iter(lab.nameserver_addresses().values()))
    listing = workdir / "participants.txt"
    listing.write_text("\n".join([lab.zone.participant(0), "iso6523-actorid-upis::0088:none"]))
    smp = lab.smps[0].url
    assert lab.access_point is not None
    return {
        "soa": ["soa", "--zone", zone, "--server", server],
        "sml-participant": [
            "sml", "--zone", zone, "--server", server, "--participant", lab.zone.participant(0)
        ],
        "sml-participants": [
            "sml", "--zone", zone, "--server", server, "--participants", str(listing)
        ],
        "smp": [
            "smp", "--url", smp, "--participant", lab.zone.participant(0), "--document-type",
            "all", "--ca-file", root, "--trust-anchors", root,
        ],
        "cert-url": ["cert", "--url", smp, "--trust-anchors", root],
        "cert-file": ["cert", "--file", str(pki / "ap1.pem"), "--trust-anchors", root],
        "crl": [
            "crl", "--url", lab.pki.crl_url(INTERMEDIATE), "--issuer",
            str(pki / f"{INTERMEDIATE}.pem"),
        ],
        "ocsp": [
            "ocsp", "--cert", str(pki / "ap1.pem"), "--issuer", str(pki / f"{INTERMEDIATE}.pem")
        ],
        "http": ["http", "--url", f"{lab.access_point.url}/status", "--ca-file", root],
        "capacity": [
            "capacity", "--url", f"{lab.access_point.url}/status", "--ca-file", root,
            "--duration", "1s", "--concurrency", "2", "--rate", "10",
        ],
    }  # fmt: skip


MODES = (
    "soa", "sml-participant", "sml-participants", "smp", "cert-url", "cert-file", "crl",
    "ocsp", "http", "capacity",
)  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
async def test_every_probe_prints_json_that_jq_reads(lab: Lab, mode: str) -> None:
    jq = require_program("jq")
    args = commands(lab, Path(str(lab.settings.workdir)))[mode]
    code, out, err = await vigie("probe", *args, "--timeout", "5s", "--json")
    assert code in (0, 1), err
    process = await asyncio.create_subprocess_exec(jq, ".", stdin=PIPE, stdout=PIPE, stderr=PIPE)
    _, complaint = await asyncio.wait_for(process.communicate(out.encode()), timeout=30)
    assert process.returncode == 0, f"jq says {complaint!r} of {out!r}"
    document = json.loads(out)
    assert isinstance(document["findings"], dict)
    assert (code == 0) == document["success"], document


def test_every_mode_is_tried() -> None:
    from vigie.probe_cli import PROBE_COMMANDS

    assert {command.name for command in PROBE_COMMANDS} == {mode.split("-")[0] for mode in MODES}
