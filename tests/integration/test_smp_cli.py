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
            "--ca-file",
            id="missing-ca-file",
        ),
    ],
)
async def test_bad_usage_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    code, out, err = await vigie("probe", "smp", *args)
    assert (code, out) == (2, "")
    assert message in err
    assert len(err.splitlines()) == 1


async def test_the_text_shows_what_was_found(lab: Lab) -> None:
    code, out, _ = await vigie(*smp_args(lab, "--document-type", "first"))
    assert code == 0, out
    assert lab.access_point is not None
    assert f"url {lab.access_point.url}/as4" in out  # the endpoint URL
    assert "transport_profile peppol-transport-as4-v2_0" in out
    assert "not_after 20" in out  # certificate dates in ISO 8601


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        pytest.param("2001-01-01T00:00:00Z", "smp_signer_expired", id="before-the-signer"),
        pytest.param(None, "ok", id="now"),
    ],
)
async def test_at_judges_the_signer_as_of_that_instant(
    lab: Lab, at: str | None, reason: str
) -> None:
    extra = ["--at", at] if at else []
    code, out, _ = await vigie(*smp_args(lab, "--document-type", "first", "--json", *extra))
    document = json.loads(out)
    assert (code, document["reason"]) == (0 if reason == "ok" else 1, reason), document
    (metadata,) = document["findings"]["metadata"]
    assert metadata["signer"]["not_after"] > "2026"  # ISO 8601 text, comparable


async def test_a_bad_at_is_a_usage_error(lab: Lab) -> None:
    code, out, err = await vigie(*smp_args(lab, "--at", "yesterday"))
    assert (code, out) == (2, "")
    assert "ISO 8601" in err
