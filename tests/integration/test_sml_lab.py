"""SML checks against the lab's name servers: every lab fault ends as the right reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from probes import PROBERS, Check, CheckDefaults, FailureReason, ProbeCollector, ProbeEnv, Runner
from probes._runner import ResultBook
from probes.dns import SmlTarget, expand_sml
from probes.dns_client import exchange
from probes.dns_lookup import evaluate_naptr, parse_answer
from probes.dns_participant import ParticipantFindings
from probes.dns_wire import TYPE_NAPTR, build_query, encode_name
from probes.naming import NamingScheme
from tests.probes.test_dns_soa import Behaviour, running_name_server
from vigie.lab.dns import LabNameServer
from vigie.lab.faults import FaultKind, Faults
from vigie.lab.zone import (
    BAD_REGEXP_PARTICIPANT,
    LARGE_LABEL,
    LARGE_NAPTR_COUNT,
    MULTI_NAPTR_PARTICIPANT,
    LabZone,
)

SMPS = ("https://smp1.lab.test", "https://smp2.lab.test")
SMP_IDS = ("smp1", "smp2")  # classic publisher names: smp{k}.publisher.<origin>


class Lab:
    def __init__(self, zone: LabZone, faults: Faults, servers: list[LabNameServer]) -> None:
        self.zone, self.faults, self.servers = zone, faults, servers

    def addresses(self, *names: str) -> list[str]:
        chosen = [s for s in self.servers if not names or s.name in names]
        return [f"{s.address[0]}:{s.address[1]}" for s in chosen]

    def participant(self, index: int) -> str:
        return self.zone.participant(index)

    def expected(self, index: int, scheme: NamingScheme) -> str:
        smp = self.zone.smp_index(self.participant(index)) or 0
        return SMPS[smp] if scheme is NamingScheme.NAPTR else SMP_IDS[smp]


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    zone = LabZone(participants=40, smp_urls=SMPS)
    faults = Faults()
    async with (
        LabNameServer(zone, faults, name="ns1") as ns1,
        LabNameServer(zone, faults, name="ns2") as ns2,
    ):
        yield Lab(zone, faults, [ns1, ns2])


def checks(target: SmlTarget, kind: str, timeout: float = 1.0) -> list[Check]:
    expanded = expand_sml(target, CheckDefaults(interval=60, timeout=timeout))
    return [check for check in expanded if check.kind == kind]


async def run(check: Check) -> tuple[FailureReason, str, ParticipantFindings]:
    result = await Runner(PROBERS, ProbeEnv(), ResultBook()).run(check)
    assert isinstance(result.findings, ParticipantFindings)
    return result.reason, result.detail, result.findings


def canary(lab: Lab, scheme: NamingScheme, participant: str, expect: str | None, *ns: str) -> Check:
    target = SmlTarget(
        zone=lab.zone.origin,
        scheme=scheme,
        nameservers=lab.addresses(*ns),
        participants=[{"id": participant, "expect_smp": expect}],
    )
    (check,) = checks(target, "dns_participant")
    return check


SCHEMES = [
    pytest.param(NamingScheme.NAPTR, id="bdxl"),
    pytest.param(NamingScheme.CNAME, id="classic"),
]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        pytest.param(None, FailureReason.OK, id="healthy"),
        pytest.param(FaultKind.PARTICIPANT_REMOVED, FailureReason.NXDOMAIN, id="removed"),
        pytest.param(FaultKind.PARTICIPANT_WRONG_SMP, FailureReason.WRONG_SMP, id="wrong-smp"),
    ],
)
async def test_participant_faults(
    lab: Lab, scheme: NamingScheme, fault: FaultKind | None, reason: FailureReason
) -> None:
    participant = lab.participant(3)
    if fault is not None:
        lab.faults.inject(fault, participant)
    check = canary(lab, scheme, participant, lab.expected(3, scheme))

    found, detail, artifacts = await run(check)

    assert found is reason, detail
    if reason is FailureReason.OK and scheme is NamingScheme.NAPTR:
        assert artifacts.smp_url == lab.expected(3, scheme)
    if reason is FailureReason.OK and scheme is NamingScheme.CNAME:
        assert artifacts.publisher == f"{lab.expected(3, scheme)}.publisher.{lab.zone.origin}"


@pytest.mark.parametrize(
    ("participant", "reason", "smp"),
    [
        pytest.param(MULTI_NAPTR_PARTICIPANT, FailureReason.OK, SMPS[0], id="multi-naptr-pick"),
        pytest.param(BAD_REGEXP_PARTICIPANT, FailureReason.MALFORMED_RECORD, None, id="bad-regexp"),
        pytest.param(
            "iso6523-actorid-upis::0088:unknown", FailureReason.NXDOMAIN, None, id="unknown"
        ),
    ],
)
async def test_zone_fixtures(
    lab: Lab, participant: str, reason: FailureReason, smp: str | None
) -> None:
    found, detail, artifacts = await run(canary(lab, NamingScheme.NAPTR, participant, smp))
    assert found is reason, detail
    assert artifacts.smp_url == smp


async def test_a_large_answer_comes_whole_over_tcp(lab: Lab) -> None:
    qname = f"{LARGE_LABEL}.{lab.zone.origin}"
    query = build_query(encode_name(qname), TYPE_NAPTR, recursion=False)
    wire, _, detail = await exchange(query, lab.servers[0].address, 2.0)
    assert wire is not None, detail
    message, _ = parse_answer(wire, authoritative=True)
    assert message is not None
    assert not message.truncated
    assert len(message.answer) == LARGE_NAPTR_COUNT
    assert evaluate_naptr(message, qname.encode(), None).smp.startswith("https://large-00.")


async def test_truncated_without_tcp_is_its_own_reason() -> None:
    async with running_name_server(Behaviour.TRUNCATED, tcp=False) as server:
        query = build_query(encode_name("x.test"), TYPE_NAPTR, recursion=False)
        wire, reason, _ = await exchange(query, server.address, 0.5)
    assert (wire, reason) == (None, FailureReason.TRUNCATED_NO_TCP)


@pytest.mark.parametrize(
    ("fault", "params", "reason"),
    [
        pytest.param(None, {}, FailureReason.OK, id="healthy"),
        pytest.param(FaultKind.NS_DOWN, {}, FailureReason.TIMEOUT, id="ns-down"),
        pytest.param(
            FaultKind.NS_SLOW, {"delay": 5.0}, FailureReason.TIMEOUT, id="ns-slower-than-timeout"
        ),
        pytest.param(FaultKind.NS_SERVFAIL, {}, FailureReason.SERVFAIL, id="ns-servfail"),
        pytest.param(FaultKind.NS_SERIAL_SKEW, {}, FailureReason.SERIAL_MISMATCH, id="serial-skew"),
    ],
)  # fmt: skip
async def test_zone_health_faults(
    lab: Lab, fault: FaultKind | None, params: dict[str, float], reason: FailureReason
) -> None:
    if fault is not None:
        lab.faults.inject(fault, "ns2", **params)
    target = SmlTarget(zone=lab.zone.origin, nameservers=lab.addresses())
    (check,) = checks(target, "dns_zone", timeout=0.5)

    result = await Runner(PROBERS, ProbeEnv(), ResultBook()).run(check)

    assert result.reason is reason, result.detail
    up = {s.labels["nameserver"]: s.value for s in result.series if s.name == "nameserver_up"}
    ns1, ns2 = lab.addresses()
    healthy_ns2 = fault in (None, FaultKind.NS_SERIAL_SKEW)
    assert up == {ns1: 1.0, ns2: 1.0 if healthy_ns2 else 0.0}
    assert result.values["nameservers"] == 2
    serials = {s.labels["nameserver"] for s in result.series if s.name == "nameserver_soa_serial"}
    assert ns1 in serials


async def test_a_slow_name_server_shows_its_latency(lab: Lab) -> None:
    lab.faults.inject(FaultKind.NS_SLOW, "ns2", delay=0.2)
    target = SmlTarget(zone=lab.zone.origin, nameservers=lab.addresses())
    (check,) = checks(target, "dns_zone", timeout=2.0)
    result = await Runner(PROBERS, ProbeEnv(), ResultBook()).run(check)
    assert result.reason is FailureReason.OK, result.detail
    seconds = {
        s.labels["nameserver"]: s.value
        for s in result.series
        if s.name == "nameserver_response_seconds"
    }
    assert seconds[lab.addresses("ns2")[0]] >= 0.2


@pytest.mark.parametrize(
    ("down", "reason"),
    [
        pytest.param(("ns1",), FailureReason.OK, id="one-down-the-other-answers"),
        pytest.param(("ns1", "ns2"), FailureReason.TIMEOUT, id="all-down"),
    ],
)
async def test_participant_lookups_fail_over(
    lab: Lab, down: tuple[str, ...], reason: FailureReason
) -> None:
    for name in down:
        lab.faults.inject(FaultKind.NS_DOWN, name)
    found, detail, _ = await run(canary(lab, NamingScheme.NAPTR, lab.participant(0), None))
    assert found is reason, detail


@pytest.mark.parametrize(
    ("failing", "reason"),
    [
        pytest.param(("ns1",), FailureReason.OK, id="one-servfail-the-other-answers"),
        pytest.param(("ns1", "ns2"), FailureReason.SERVFAIL, id="all-servfail"),
    ],
)
async def test_a_servfail_is_failed_over_like_a_resolver_does(
    lab: Lab, failing: tuple[str, ...], reason: FailureReason, tmp_path: Path
) -> None:
    # A resolver asks the zone's next server after SERVFAIL (RFC 1035 7.2): a sender
    # still finds the participant, so the lookup and the sweep must too.
    for name in failing:
        lab.faults.inject(FaultKind.NS_SERVFAIL, name)
    found, detail, _ = await run(canary(lab, NamingScheme.NAPTR, lab.participant(0), None))
    assert found is reason, detail
    ids = [lab.participant(index) for index in range(len(lab.zone))]
    listing = tmp_path / "participants.txt"
    listing.write_text("\n".join(ids) + "\n")
    sweep = {"file": str(listing), "rate": 10_000, "every": "5s"}
    target = SmlTarget(zone=lab.zone.origin, nameservers=lab.addresses(), sweep=sweep)
    (check,) = checks(target, "dns_sweep")
    result = await Runner(PROBERS, ProbeEnv(), ResultBook()).run(check)
    assert result.reason is reason, result.detail
    assert result.values["failing_participants"] == (0 if reason is FailureReason.OK else len(ids))


async def test_servfail_of_the_only_name_server(lab: Lab) -> None:
    lab.faults.inject(FaultKind.NS_SERVFAIL, "ns1")
    check = canary(lab, NamingScheme.NAPTR, lab.participant(0), None, "ns1")
    assert (await run(check))[0] is FailureReason.SERVFAIL


def metrics(book: ResultBook) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProbeCollector(book))
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_sweep_reports_failing_participants_within_its_budget(
    lab: Lab, scheme: NamingScheme, tmp_path: Path
) -> None:
    listing = tmp_path / "participants.txt"
    ids = [lab.participant(index) for index in range(len(lab.zone))]
    listing.write_text("# the lab's participants\n" + "\n".join([*ids, "::broken"]) + "\n")
    removed = ids[5], ids[7]
    for participant in removed:
        lab.faults.inject(FaultKind.PARTICIPANT_REMOVED, participant)
    target = SmlTarget(
        zone=lab.zone.origin,
        scheme=scheme,
        nameservers=lab.addresses(),
        sweep={"file": str(listing), "rate": 10_000, "every": "5s", "cardinality_budget": 1},
    )
    (check,) = checks(target, "dns_sweep")
    book = ResultBook()
    runner = Runner(PROBERS, ProbeEnv(), book)

    result = await runner.run(check)

    assert result.reason is FailureReason.OK, result.detail
    assert result.values["participants"] == len(ids)
    assert result.values["invalid_lines"] == 1
    assert result.values["batch_lookups"] == len(ids)  # at most one pass per batch
    assert result.values["progress_ratio"] == 1.0  # a whole pass, not "0" for none
    assert result.values["failing_participants"] == 2
    assert result.values["failing_participants_without_series"] == 1
    found = metrics(book)
    labels = {("kind", "dns_sweep"), ("service", "sml"), ("target", lab.zone.origin)}
    assert (
        found[("probe_dns_sweep_lookups_total", frozenset({*labels, ("reason", "nxdomain")}))] >= 2
    )
    failing = {
        dict(key[1])["participant"]
        for key in found
        if key[0] == "probe_dns_sweep_participant_failing"
    }
    assert failing == {removed[0]}  # the oldest failure keeps the only series
    assert found[("probe_dns_sweep_participant_series_overflow_total", frozenset(labels))] == 1
    every = found[
        ("probe_dns_sweep_lookup_duration_seconds_bucket", frozenset({*labels, ("le", "+Inf")}))
    ]
    assert every > 0
    # One histogram: its count is the +Inf bucket, and its sum is a real latency total.
    assert found[("probe_dns_sweep_lookup_duration_seconds_count", frozenset(labels))] == every
    assert found[("probe_dns_sweep_lookup_duration_seconds_sum", frozenset(labels))] > 0

    lab.faults.heal_all()
    await runner.run(check)
    assert check.params.failing == {}
