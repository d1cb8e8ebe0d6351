"""The 2026 Peppol SML rebuilt in NSD, and vigie's verdicts held against what `dig` reads.

The shape is the network's since 2026-03-19: OpenPeppol's production zone publishes NAPTRs
itself and its name servers live in another zone; its test zone is a DNAME at the apex to
the EC's acceptance zone, served by other name servers (a second NSD here), where a
participant may be a CNAME back into the production zone. The zone names keep the real
label structure under `.test`, so nothing here could ever ask a public server. For every
participant, `dig` is asked the same names vigie asks and the chain it shows, the records
at the chain's end and the rcode are what vigie must report.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from probes import Check, CheckDefaults, FailureReason, ProbeEnv, ProbeResult
from probes.dns import SmlTarget, expand_sml
from probes.dns_participant import probe_participant
from probes.dns_servers import ZoneServers
from probes.dns_soa import SoaParams, probe_soa
from probes.dns_zone import ZoneParams, probe_zone
from probes.naming import NamingScheme, ParticipantId, participant_name
from tests.integration.nsd import RunningNsd, nsd_serving
from tests.support import require_program

pytestmark = pytest.mark.integration

PROD = "participant.sml.prod.tech.peppol.test"
TEST = "participant.sml.test.tech.peppol.test"
EC = "acc.edelivery.tech.ec.europa.test"
SCHEME = "iso6523-actorid-upis"
SMP = "https://smp.peppol.test"
OTHER = "https://other.peppol.test/smp"
# Where no SMP listens: `vigie diagnose` stops right after the SML step.
CLOSED = "https://127.0.0.1:9/smp"


def naptr(order: int, preference: int, regexp: str, service: str = "Meta:SMP") -> str:
    return f'NAPTR {order} {preference} "U" "{service}" "{regexp}" .'


# participant value -> its records in the production zone (zone-file order is answer order)
PRODUCTION = {
    "0088:upper-case": [naptr(100, 10, f"!.*!{SMP}!", service="META:SMP")],
    "0088:other-delimiter": [naptr(100, 10, f"#^.*$#{OTHER}#")],
    "0088:one-anchor": [naptr(100, 10, f"!^.*!{SMP}!")],
    "0088:replacement-only": ['NAPTR 100 10 "U" "Meta:SMP" "" smp.peppol.test.'],
    "0088:not-http": [naptr(100, 10, "!.*!ftp://smp.peppol.test!"), naptr(100, 20, f"!.*!{SMP}!")],
    "0088:orders": [naptr(200, 10, f"!.*!{OTHER}!"), naptr(100, 50, f"!.*!{SMP}!")],
    "0088:equal-order": [naptr(100, 10, f"!.*!{SMP}!"), naptr(100, 10, f"!.*!{OTHER}!")],
    "0088:moved": [naptr(100, 10, f"!.*!{SMP}/moved!")],
}
# participant value -> its records in the EC zone, reached through the test zone's DNAME
ACCEPTANCE = {
    "9915:test": [naptr(100, 10, f"!.*!{OTHER}!")],
    "0088:moved": [
        f"CNAME {participant_name(ParticipantId(SCHEME, '0088:moved'), PROD, NamingScheme.NAPTR)}."
    ],
    "0088:diagnosed": [naptr(100, 10, f"!.*!{CLOSED}!")],
}


# An ebCore party id has no SCHEME:: part: hashed whole, and no scheme label follows.
EBCORE = "urn:oasis:names:tc:ebcore:partyid-type:iso6523:0088:EBCORE1"


def ebcore_name(zone: str) -> str:
    return participant_name(ParticipantId(None, EBCORE), zone, NamingScheme.NAPTR)


def name(value: str, zone: str) -> str:
    return participant_name(ParticipantId(SCHEME, value), zone, NamingScheme.NAPTR)


def head(zone: str, nameservers: list[str], serial: int) -> list[str]:
    return [
        f"$ORIGIN {zone}.",
        "$TTL 60",
        f"@ IN SOA {nameservers[0]} hostmaster.peppol.test. {serial} 3600 600 86400 60",
        *(f"@ IN NS {host}" for host in nameservers),
    ]


def zone_text(lines: list[str], participants: dict[str, list[str]], zone: str) -> str:
    for value, records in participants.items():
        # Publishers may write owner names in upper case; DNS compares without case.
        owner = name(value, zone).upper() if value == "0088:upper-case" else name(value, zone)
        lines += [f"{owner}. IN {record}" for record in records]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Network:
    openpeppol: RunningNsd  # the production zone and the test zone
    ec: RunningNsd  # the acceptance zone the test zone is renamed to

    def server_of(self, qname: str) -> RunningNsd:
        return self.ec if qname.endswith("." + EC) else self.openpeppol


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    # The name servers live in a zone of their own, served by neither NSD.
    prod = zone_text(
        head(PROD, ["ns1.sml.peppol.test.", "ns2.sml.peppol.test."], 2026031901), PRODUCTION, PROD
    )
    test = (
        "\n".join([*head(TEST, ["ns1.sml.peppol.test."], 2026031902), f"@ IN DNAME {EC}."]) + "\n"
    )
    ec_lines = head(EC, ["ns.edelivery.tech.ec.europa.test."], 2026010101)
    ec_lines.append(f"{ebcore_name(EC)}. IN {naptr(100, 10, f'!.*!{SMP}/ebcore!')}")
    ec = zone_text(ec_lines, ACCEPTANCE, EC)
    with (
        nsd_serving(PROD, prod, tmp_path_factory.mktemp("openpeppol"), {TEST: test}) as openpeppol,
        nsd_serving(EC, ec, tmp_path_factory.mktemp("ec")) as acceptance,
    ):
        yield Network(openpeppol, acceptance)


def address(server: RunningNsd) -> str:
    return f"{server.host}:{server.port}"


@dataclass(frozen=True)
class Dug:
    """What `dig` shows, resolving as a sender's resolver would across the two servers."""

    status: str
    chain: list[str]  # "owner DNAME|CNAME target", no final dots; synthesised CNAMEs left out
    records: list[str]  # NAPTR rdata at the end of the chain, as dig prints it


def dig(server: RunningNsd, qname: str, rtype: str) -> tuple[str, list[list[str]]]:
    done = subprocess.run(
        [
            require_program("dig"), f"@{server.host}", "-p", str(server.port), "+norec",
            "+noall", "+comments", "+answer", "+time=2", "+tries=1", qname, rtype,
        ],
        capture_output=True, text=True, timeout=10, check=True,
    )  # fmt: skip
    status = next(
        line.split("status: ")[1].split(",")[0]
        for line in done.stdout.splitlines()
        if "status: " in line
    )
    answer = [line.split(None, 4) for line in done.stdout.splitlines() if line and line[0] != ";"]
    return status, answer


def resolve(network: Network, qname: str) -> Dug:
    chain: list[str] = []
    asked = qname
    for _ in range(4):
        status, answer = dig(network.server_of(asked), asked, "NAPTR")
        dnames = [row[0] for row in answer if row[3] == "DNAME"]
        end = asked + "."
        for owner, _, _, rtype, target in answer:
            synthesised = rtype == "CNAME" and any(owner.endswith("." + d) for d in dnames)
            if rtype in ("CNAME", "DNAME") and not synthesised:
                chain.append(f"{owner.rstrip('.').lower()} {rtype} {target.rstrip('.').lower()}")
            if rtype == "CNAME":
                end = target
        records = [row[4] for row in answer if row[3] == "NAPTR" and row[0].lower() == end.lower()]
        if records or status != "NOERROR" or end == asked + ".":
            return Dug(status, chain, records)
        asked = end.rstrip(".").lower()
    raise AssertionError(f"chain from {qname} too long for this network")


def target(network: Network, zone: str, participant: str, expect: str | None) -> SmlTarget:
    return SmlTarget(
        zone=zone,
        nameservers=[address(network.openpeppol)],
        other_zones={EC: [address(network.ec)], PROD: [address(network.openpeppol)]},
        participants=[{"id": participant, "expect_smp": expect}],
    )


def probe(
    network: Network, zone: str, participant: str, expect: str | None = None
) -> dict[str, Any]:
    """The check `vigie probe sml` and the agent run, run here, as its JSON document."""
    sml = target(network, zone, participant, expect)
    check = next(
        c for c in expand_sml(sml, CheckDefaults(timeout=3.0)) if c.kind == "dns_participant"
    )
    result = asyncio.run(probe_participant(check, ProbeEnv()))
    assert result.findings is not None
    return {"reason": str(result.reason), "findings": result.findings.document()}


def cli(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "vigie", *args, "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def vigie_records(findings: dict[str, object]) -> list[str]:
    # vigie writes names without the final dot; dig with it.
    records = findings["records"]
    assert isinstance(records, list)
    return [record if record.endswith(" .") else record + "." for record in records]


@pytest.mark.parametrize(
    ("zone", "value", "reason", "smp"),
    [
        pytest.param(PROD, "0088:upper-case", "ok", SMP, id="upper-case-service-and-owner"),
        pytest.param(PROD, "0088:other-delimiter", "ok", OTHER, id="other-delimiter"),
        pytest.param(PROD, "0088:one-anchor", "ok", SMP, id="one-anchor"),
        pytest.param(PROD, "0088:replacement-only", "malformed_record", None, id="replacement"),
        pytest.param(PROD, "0088:not-http", "ok", SMP, id="not-http-skipped"),
        pytest.param(PROD, "0088:orders", "ok", SMP, id="lower-order-first"),
        pytest.param(PROD, "0088:equal-order", "ok", OTHER, id="equal-order-by-url"),
        pytest.param(PROD, "0088:absent", "nxdomain", None, id="prod-unregistered"),
        pytest.param(TEST, "9915:test", "ok", OTHER, id="dname-to-another-server"),
        pytest.param(TEST, "0088:moved", "ok", f"{SMP}/moved", id="dname-then-cname-back"),
        pytest.param(TEST, "0088:absent", "nxdomain", None, id="test-unregistered"),
    ],
)
def test_a_participant_is_what_dig_says(
    network: Network, zone: str, value: str, reason: str, smp: str | None
) -> None:
    dug = resolve(network, name(value, zone))
    document = probe(network, zone, f"{SCHEME}::{value}")
    assert (document["reason"], dug.status == "NOERROR") == (reason, reason != "nxdomain")
    findings = document["findings"]
    assert isinstance(findings, dict)
    assert findings["name"] == name(value, zone)
    assert findings["chain"] == dug.chain
    assert vigie_records(findings) == dug.records
    assert findings["smp_url"] == smp


def test_an_ebcore_party_id_is_asked_without_scheme_label(network: Network) -> None:
    dug = resolve(network, ebcore_name(TEST))
    document = probe(network, TEST, EBCORE)
    assert (document["reason"], dug.status) == ("ok", "NOERROR"), document
    findings = document["findings"]
    assert findings["name"] == ebcore_name(TEST)
    label, _, rest = findings["name"].partition(".")
    assert (len(label), rest) == (52, TEST)  # the hash label, then the zone at once
    assert (findings["chain"], vigie_records(findings)) == (dug.chain, dug.records)
    assert findings["smp_url"] == f"{SMP}/ebcore"


@pytest.fixture(scope="module")
def lost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNsd]:
    """A secondary of the acceptance zone that lost it: NSD answers SERVFAIL for a zone it
    is configured for but could not load."""
    own = "\n".join(head("lost.peppol.test", ["ns.lost.peppol.test."], 1)) + "\n"
    workdir = tmp_path_factory.mktemp("lost")
    with nsd_serving("lost.peppol.test", own, workdir, {EC: "not a zone file\n"}) as server:
        yield server


@pytest.mark.parametrize(
    ("servers", "reason"),
    [
        pytest.param(("lost", "ec"), "ok", id="lost-first-then-the-zone"),
        pytest.param(("lost",), "servfail", id="only-the-lost-secondary"),
    ],
)
def test_a_chain_goes_past_a_server_that_lost_the_zone(
    network: Network, lost: RunningNsd, servers: tuple[str, ...], reason: str
) -> None:
    status, _ = dig(lost, name("9915:test", EC), "NAPTR")
    assert status == "SERVFAIL"  # what a resolver gets there, and then asks the next
    listed = [address(lost if server == "lost" else network.ec) for server in servers]
    sml = target(network, TEST, f"{SCHEME}::9915:test", None)
    sml = sml.model_copy(update={"other_zones": {EC: listed}})
    check = next(
        c for c in expand_sml(sml, CheckDefaults(timeout=3.0)) if c.kind == "dns_participant"
    )
    result = asyncio.run(probe_participant(check, ProbeEnv()))
    assert str(result.reason) == reason, result.detail
    if reason == "ok":
        assert result.findings is not None
        assert (
            result.findings.document()["records"]
            == probe(network, TEST, f"{SCHEME}::9915:test")["findings"]["records"]
        )


def test_equal_order_records_are_alternatives_an_expectation_may_name(network: Network) -> None:
    document = probe(network, PROD, f"{SCHEME}::0088:equal-order", SMP)
    assert document["reason"] == "ok"
    findings = document["findings"]
    assert isinstance(findings, dict)
    assert (findings["smp_url"], findings["alternatives"]) == (SMP, [OTHER, SMP])


def test_an_identifier_copied_from_an_smp_url_is_looked_up_as_the_identifier(
    network: Network,
) -> None:
    where = ["--server", address(network.openpeppol), "--other-zone", f"{EC}={address(network.ec)}"]
    copied = "iso6523-actorid-upis%3A%3A9915%3ATest"
    document = cli("probe", "sml", "--zone", TEST, *where, "--participant", copied)
    assert document["reason"] == "ok", document
    assert document["findings"] == probe(network, TEST, f"{SCHEME}::9915:test")["findings"]


def check(kind: str, params: object) -> Check:
    return Check(kind, "sml", "zone", params, interval=60.0, timeout=3.0)


@pytest.mark.parametrize("zone", [PROD, TEST], ids=["prod", "test-renamed"])
def test_zone_health_and_soa_are_what_dig_says(network: Network, zone: str) -> None:
    # The name servers of both zones are named in a zone neither server holds: the checks
    # ask the configured servers and must not need those names to resolve.
    server = network.openpeppol
    _, soa = dig(server, zone, "SOA")
    _, ns = dig(server, zone, "NS")
    serial = int(soa[0][4].split()[2])
    servers = ZoneServers(zone, ((address(server), (server.host, server.port)),), discover=False)

    async def run() -> tuple[ProbeResult, ProbeResult]:
        env = ProbeEnv()
        health = await probe_zone(check("dns_zone", ZoneParams(zone, servers)), env)
        soa_check = SoaParams(zone, (server.host, server.port), authoritative=True)
        return health, await probe_soa(check("dns_soa", soa_check), env)

    health, one = asyncio.run(run())
    assert health.reason is FailureReason.OK, health
    assert health.values == {"serials": 1.0, "nameservers": float(len(ns))}
    assert one.values == {"serial": serial}


def test_diagnose_reports_the_sml_step_as_dig_reads_it(network: Network) -> None:
    value = "0088:diagnosed"
    dug = resolve(network, name(value, TEST))
    diagnosis = cli(
        "diagnose", "--zone", TEST, "--server", address(network.openpeppol),
        "--other-zone", f"{EC}={address(network.ec)}", "--timeout", "2s", f"{SCHEME}::{value}",
    )  # fmt: skip
    sml = diagnosis["steps"][0]
    assert (sml["step"], sml["reason"]) == ("sml", "ok")
    assert sml["findings"]["chain"] == dug.chain
    assert vigie_records(sml["findings"]) == dug.records
    assert sml["findings"]["smp_url"] == CLOSED
    # The SML is whole; what breaks is the SMP it names, which nothing serves.
    assert diagnosis["broken"] not in ("sml", None)


def test_a_sweep_of_the_test_zone_agrees_with_dig(network: Network, tmp_path: Path) -> None:
    values = ["9915:test", "0088:moved", "0088:absent"]
    listing = tmp_path / "participants.txt"
    listing.write_text("".join(f"{SCHEME}::{value}\n" for value in values))
    done = subprocess.run(
        [
            sys.executable, "-m", "vigie", "probe", "sml", "--zone", TEST,
            "--server", address(network.openpeppol), "--other-zone", f"{EC}={address(network.ec)}",
            "--other-zone", f"{PROD}={address(network.openpeppol)}",
            "--participants", str(listing),
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    registered = [v for v in values if resolve(network, name(v, TEST)).status == "NOERROR"]
    assert registered == ["9915:test", "0088:moved"]
    assert done.stdout.splitlines()[0] == "checked 3: ok 2, nxdomain 1", done.stdout
    assert f"  nxdomain: {SCHEME}::0088:absent" in done.stdout
