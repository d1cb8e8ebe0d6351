"""`vigie probe sml` against NSD serving a generated zone, in both naming schemes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.naming import NamingScheme, ParticipantId, participant_name
from tests.integration.nsd import RunningNsd, nsd_serving

pytestmark = pytest.mark.integration

ZONE = "sml.vigie.test"
SMPS = ("https://smp1.sml.vigie.test", "https://smp2.sml.vigie.test/")
COUNT = 30
UNREGISTERED = "iso6523-actorid-upis::0088:not-registered"


def participant(index: int) -> str:
    return f"iso6523-actorid-upis::0088:NSD{index:04d}"


def zone_text() -> str:
    lines = [
        f"$ORIGIN {ZONE}.",
        "$TTL 60",
        "@ IN SOA ns1 hostmaster 2026112201 3600 600 86400 60",
        "@ IN NS ns1",
        "ns1 IN A 127.0.0.1",
        "smp1.publisher IN A 127.0.0.1",
        "smp2.publisher IN CNAME smp2.elsewhere.test.",
    ]
    for index in range(COUNT):
        pid = ParticipantId.parse(participant(index))
        bdxl = participant_name(pid, ZONE, NamingScheme.NAPTR).upper()  # publishers may shout
        classic = participant_name(pid, ZONE, NamingScheme.CNAME)
        regexp = ("!^.*$!{}!" if index % 2 else "!.*!{}!").format(SMPS[index % 2])
        lines.append(f'{bdxl}. IN NAPTR 100 10 "U" "Meta:SMP" "{regexp}" .')
        lines.append(f"{classic}. IN CNAME smp{index % 2 + 1}.publisher")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def nsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNsd]:
    with nsd_serving(ZONE, zone_text(), tmp_path_factory.mktemp("nsd")) as server:
        yield server


def vigie(*args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "vigie", "probe", "sml", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def server(nsd: RunningNsd) -> list[str]:
    return ["--zone", ZONE, "--server", f"{nsd.host}:{nsd.port}"]


@pytest.mark.parametrize(
    ("naming", "args", "code", "reason"),
    [
        pytest.param("bdxl", ["--participant", participant(1)], 0, "ok", id="bdxl-registered"),
        pytest.param(
            "bdxl",
            ["--participant", participant(1).lower(), "--expect-smp", SMPS[1].upper()],
            0,
            "ok",
            id="bdxl-expected-smp",
        ),
        pytest.param(
            "bdxl",
            ["--participant", participant(1), "--expect-smp", SMPS[0]],
            1,
            "wrong_smp",
            id="bdxl-wrong-smp",
        ),
        pytest.param("bdxl", ["--participant", UNREGISTERED], 1, "nxdomain", id="bdxl-unknown"),
        pytest.param(
            "classic",
            ["--participant", participant(2), "--expect-smp", "smp1"],
            0,
            "ok",
            id="classic-registered",
        ),
        pytest.param(
            "classic",
            ["--participant", participant(3), "--expect-smp", "smp1"],
            1,
            "wrong_smp",
            id="classic-wrong-smp",
        ),
        pytest.param(
            "classic", ["--participant", UNREGISTERED], 1, "nxdomain", id="classic-unknown"
        ),
    ],
)
def test_probe_sml_finds_registered_participants(
    nsd: RunningNsd, naming: str, args: list[str], code: int, reason: str
) -> None:
    status, out, err = vigie(*server(nsd), "--naming", naming, *args, "--json")
    document = json.loads(out)
    assert (status, document["reason"], document["kind"]) == (code, reason, "dns_participant")
    assert err == ""


def test_the_text_output_shows_the_smp_found(nsd: RunningNsd) -> None:
    status, out, _ = vigie(*server(nsd), "--participant", participant(1))
    assert status == 0, out
    assert f"  smp_url: {SMPS[1]}" in out.splitlines()
    assert any(line.startswith("  name: ") for line in out.splitlines())  # the name asked


def test_the_text_output_names_the_reason(nsd: RunningNsd) -> None:
    status, out, _ = vigie(*server(nsd), "--participant", UNREGISTERED)
    assert status == 1
    assert out.startswith(f"FAILED dns_participant {UNREGISTERED}@{ZONE}: nxdomain")


@pytest.mark.parametrize("naming", ["bdxl", "classic"])
def test_a_sweep_prints_a_summary_and_fails_on_any_failure(
    nsd: RunningNsd, naming: str, tmp_path: Path
) -> None:
    listing = tmp_path / "participants.csv"
    rows = [f"{participant(index)},{SMPS[index % 2]}" for index in range(COUNT)]
    if naming == "classic":
        rows = [participant(index) for index in range(COUNT)]
        listing = tmp_path / "participants.txt"
    listing.write_text("\n".join(rows) + "\n")
    status, out, _ = vigie(*server(nsd), "--naming", naming, "--participants", str(listing))
    assert status == 0, out
    assert out.splitlines()[0] == f"checked {COUNT}: ok {COUNT}"  # one pass, one summary
    assert f"ok dns_sweep {ZONE}: ok ({COUNT} lookups, 0 failed)" in out

    listing.write_text("\n".join([*rows, UNREGISTERED]) + "\n")
    status, out, _ = vigie(*server(nsd), "--naming", naming, "--participants", str(listing))
    assert status == 1
    assert f"  nxdomain: {UNREGISTERED}" in out
    assert f"FAILED dns_sweep {ZONE}: nxdomain" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--participant", "scheme::"], "needs SCHEME::VALUE", id="bad-identifier"),
        pytest.param(["--participants", "/nonexistent/list"], "no such file", id="missing-list"),
        pytest.param(
            ["--participants", "/dev/null", "--rate", "0"], "must be more than 0", id="zero-rate"
        ),
    ],
)
def test_bad_usage_exits_2(args: list[str], message: str) -> None:
    status, out, err = vigie("--zone", ZONE, *args)
    assert (status, out) == (2, "")
    assert message in err
