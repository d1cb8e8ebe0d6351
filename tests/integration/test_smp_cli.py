"""`vigie probe smp` as a user runs it, against the lab's SMP: exit 0, 1 or 2."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.vigie.test_probe_cli import vigie
from vigie.lab import FaultKind, Lab, LabSettings


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    async with Lab(LabSettings(participants=4, workdir=tmp_path)) as running:
        yield running


def smp_args(lab: Lab, *extra: str) -> list[str]:
    root = str(Path(str(lab.settings.workdir)) / "pki" / "root.pem")
    return [
        "probe", "smp", "--url", lab.smps[0].url, "--participant", lab.zone.participant(0),
        "--ca-file", root, "--trust-anchors", root, *extra,
    ]  # fmt: skip


async def test_good_metadata_prints_ok_and_exits_0(lab: Lab) -> None:
    code, out, err = await vigie(*smp_args(lab, "--document-type", "all"))
    assert (code, err) == (0, "")
    assert out.startswith(f"ok smp {lab.zone.participant(0)}@{lab.smps[0].url}: ok")
    assert "document_types: 2" in out
    assert "endpoints: 2" in out


async def test_a_failed_check_is_its_reason_in_json_and_exit_1(lab: Lab) -> None:
    lab.inject(FaultKind.SMP_5XX, "smp1")
    code, out, _ = await vigie(*smp_args(lab, "--json"))
    document = json.loads(out)
    assert code == 1
    assert (document["success"], document["reason"]) == (False, "smp_http_error")
    assert document["detail"] == "ServiceGroup: HTTP 503"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--url", "https://smp.test", "--participant", "9915:x"],
            "'9915:x' needs SCHEME::VALUE",
            id="participant-without-scheme",
        ),
        pytest.param(
            ["--url", "smp.test", "--participant", "a::b"],
            "is not an http(s) URL",
            id="url-without-scheme",
        ),
        pytest.param(
            ["--url", "https://smp.test", "--participant", "a::b", "--ca-file", "/nonexistent"],
            "ca_file",
            id="missing-ca-file",
        ),
    ],
)
async def test_bad_usage_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    code, out, err = await vigie("probe", "smp", *args)
    assert (code, out) == (2, "")
    assert message in err
    assert len(err.splitlines()) == 1
