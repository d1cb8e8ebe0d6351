"""Correlation decisions: dedupe, reopen, create; idempotent replays; grouping; topology;
flapping."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from correlator.decide import (
    CorrelationPolicy,
    CreateTicket,
    GroupMaster,
    NoChange,
    Placement,
    RecoverTicket,
    ReopenTicket,
    Snapshot,
    TicketCommand,
    TicketRecord,
    Topology,
    UpdateTicket,
    decide,
    group_key,
    group_master,
    place,
)
from correlator.fingerprint import fingerprint
from correlator.rules import Alert
from ticket_sink.flapping import is_flapping, recent_changes
from ticket_sink.model import Severity, Ticket, TicketState, TicketType

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(hours=1)
POLICY = CorrelationPolicy(reopen_window=WINDOW, group_by=())
LABELS = {
    "alertname": "SmlNameServerFailing",
    "kind": "dns_soa",
    "service": "sml",
    "target": "ns1.acc.edelivery.tech.ec.europa.eu",
    "reason": "servfail",
}


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _alert(start: float, end: float | None = None, labels: dict[str, str] = LABELS) -> Alert:
    ends_at = None if end is None else _at(end)
    return Alert(labels, {"summary": "x"}, Severity.MAJOR, _at(start), ends_at)


def _ticket(
    id: str,
    state: TicketState,
    seen: float,
    *,
    resolved: float | None = None,
    closed: float | None = None,
    occurrences: int = 1,
) -> TicketRecord:
    return TicketRecord(
        id,
        state,
        created_at=_at(seen),
        last_seen=_at(seen),
        occurrences=occurrences,
        resolved_at=None if resolved is None else _at(resolved),
        closed_at=None if closed is None else _at(closed),
    )


NOW = _at(500)
ACTIVE_STATES = [TicketState.NEW, TicketState.OPEN, TicketState.IN_PROGRESS, TicketState.ON_HOLD]

DECISIONS = [
    pytest.param(
        _alert(100),
        [],
        CreateTicket(
            fingerprint(LABELS), LABELS, Severity.MAJOR, "", NOW, _at(100), refers_to=None
        ),
        id="no-ticket-creates",
    ),
    *(
        pytest.param(
            _alert(100),
            [_ticket("T1", state, 10, occurrences=3)],
            UpdateTicket("T1", 4, _at(100)),
            id=f"{state}-ticket-updates",
        )
        for state in ACTIVE_STATES
    ),
    pytest.param(
        _alert(10),
        [_ticket("T1", TicketState.OPEN, 10)],
        NoChange("episode already recorded", "T1"),
        id="same-episode-no-change",
    ),
    pytest.param(
        _alert(5),
        [_ticket("T1", TicketState.OPEN, 10)],
        NoChange("episode already recorded", "T1"),
        id="older-episode-late-no-change",
    ),
    pytest.param(
        _alert(100, end=120),
        [_ticket("T1", TicketState.OPEN, 10)],
        NoChange("the alert is resolved"),
        id="resolved-alert-no-change",
    ),
    pytest.param(
        _alert(100, end=120),
        [],
        NoChange("the alert is resolved"),
        id="resolved-alert-never-creates",
    ),
    pytest.param(
        _alert(100),
        [_ticket("T1", TicketState.RESOLVED, 10, resolved=50, occurrences=2)],
        ReopenTicket("T1", 3, _at(100), NOW),
        id="resolved-inside-window-reopens",
    ),
    pytest.param(
        _alert(110),
        [_ticket("T1", TicketState.RESOLVED, 10, resolved=50)],
        ReopenTicket("T1", 2, _at(110), NOW),
        id="resolved-at-window-edge-reopens",
    ),
    pytest.param(
        _alert(110.5),
        [_ticket("T1", TicketState.RESOLVED, 10, resolved=50)],
        CreateTicket(
            fingerprint(LABELS),
            LABELS,
            Severity.MAJOR,
            "",
            NOW,
            _at(110.5),
            refers_to="T1",
            closes="T1",
        ),
        id="resolved-outside-window-creates-referring",
    ),
    pytest.param(
        _alert(30),
        [_ticket("T1", TicketState.RESOLVED, 30, resolved=50)],
        NoChange("episode already recorded", "T1"),
        id="resolved-by-hand-during-episode-no-reopen",
    ),
    pytest.param(
        _alert(100),
        [
            _ticket("T1", TicketState.CLOSED, 10, resolved=20, closed=30),
            _ticket("T2", TicketState.CLOSED, 40, resolved=50, closed=60),
        ],
        CreateTicket(
            fingerprint(LABELS), LABELS, Severity.MAJOR, "", NOW, _at(100), refers_to="T2"
        ),
        id="closed-creates-referring-to-latest",
    ),
    pytest.param(
        _alert(100),
        [_ticket("T1", TicketState.CLOSED, 90, resolved=91, closed=92)],
        CreateTicket(
            fingerprint(LABELS), LABELS, Severity.MAJOR, "", NOW, _at(100), refers_to="T1"
        ),
        id="closed-never-reopens-even-inside-window",
    ),
    pytest.param(
        _alert(100),
        [
            _ticket("T2", TicketState.OPEN, 60),
            _ticket("T1", TicketState.CLOSED, 10, resolved=20, closed=30),
        ],
        UpdateTicket("T2", 2, _at(100)),
        id="active-wins-over-closed",
    ),
    pytest.param(
        _alert(100),
        [dataclasses.replace(_ticket("T1", TicketState.CLOSED, 100, closed=110), firing=True)],
        CreateTicket(
            fingerprint(LABELS), LABELS, Severity.MAJOR, "", NOW, _at(100), refers_to="T1"
        ),
        id="closed-while-firing-the-same-episode-opens-a-new-ticket",
    ),
    pytest.param(
        _alert(100),
        [
            dataclasses.replace(_ticket("T1", TicketState.CLOSED, 100, closed=110), firing=True),
            _ticket("T2", TicketState.NEW, 100),
        ],
        NoChange("episode already recorded", "T2"),
        id="closed-while-firing-then-reopened-as-a-new-ticket-is-recorded",
    ),
    pytest.param(
        _alert(100),
        [_ticket("T1", TicketState.CLOSED, 100, closed=110)],
        NoChange("episode already recorded", "T1"),
        id="closed-after-the-alert-cleared-a-late-copy-changes-nothing",
    ),
]


def _which(command: TicketCommand) -> TicketCommand:
    """The command, less what the table above leaves to the tests below: the title, the
    alert's flips, when a creation is announced."""
    if isinstance(command, CreateTicket):
        assert command.title
        assert command.notify_at == NOW + POLICY.group_wait
        return dataclasses.replace(command, title="", notify_at=None)
    if isinstance(command, UpdateTicket | ReopenTicket):
        return dataclasses.replace(command, alert_changes=None)
    return command


def _decide(alert: Alert, tickets: list[TicketRecord], **snapshot: Any) -> TicketCommand:
    return decide(alert, Snapshot(tuple(tickets), **snapshot), NOW, POLICY)


@pytest.mark.parametrize(("alert", "tickets", "expected"), DECISIONS)
def test_decide(alert: Alert, tickets: list[TicketRecord], expected: TicketCommand) -> None:
    assert _which(_decide(alert, tickets)) == expected


def test_create_is_placed_by_topology_and_notifies_nobody_under_a_parent() -> None:
    topology = Topology.from_edges([("zone", LABELS["target"])])
    policy = dataclasses.replace(POLICY, topology=topology)
    snapshot = Snapshot(firing_masters={"zone": "M1"})
    command = decide(_alert(1), snapshot, NOW, policy)
    assert isinstance(command, CreateTicket)
    assert (command.master_id, command.notify, command.caused_by) == ("M1", False, "zone")
    assert command.notify_at is None
    assert not command.adopts  # the alert's node has no dependants


def test_alerts_without_a_target_are_not_one_node() -> None:
    untargeted = {name: value for name, value in LABELS.items() if name != "target"}
    alert = Alert(untargeted, {}, Severity.MAJOR, _at(1))
    command = decide(alert, Snapshot(firing_masters={"": "M1"}), NOW, POLICY)
    assert isinstance(command, CreateTicket)
    assert (command.master_id, command.caused_by) == (None, None)


def test_a_parent_joining_the_group_of_its_dependant_leads_it() -> None:
    topology = Topology.from_edges([(LABELS["target"], "p1")])
    policy = dataclasses.replace(POLICY, topology=topology, group_by=("service",))
    key = group_key(LABELS, ("service",))
    snapshot = Snapshot(groups={key: GroupMaster("M-P1", _at(499), "p1")})
    command = decide(_alert(1), snapshot, NOW, policy)
    assert isinstance(command, CreateTicket)
    assert (command.master_id, command.group_key, command.adopts) == (None, key, True)
    assert command.notify_at == NOW + policy.group_wait


def test_an_alert_that_fires_again_counts_a_flip_and_may_flap() -> None:
    ticket = _ticket("T1", TicketState.OPEN, 10)  # its alert is clear
    flips = [_at(minutes) for minutes in (480, 485, 490, 492, 494, 496)]
    command = _decide(_alert(499), [ticket], alert_changes=flips)
    assert command == UpdateTicket("T1", 2, _at(499), True, (*flips, _at(499)))
    still = dataclasses.replace(ticket, firing=True, last_seen=_at(100))
    assert _decide(_alert(499), [still], alert_changes=flips) == UpdateTicket(
        "T1", 2, _at(499), False, None
    )


def test_a_resolved_alert_records_the_recovery_of_its_episode_once() -> None:
    firing = dataclasses.replace(_ticket("T1", TicketState.OPEN, 10), firing=True)
    assert _decide(_alert(10, end=120), [firing]) == RecoverTicket(
        "T1", _at(120), (_at(120),), False
    )
    assert _decide(_alert(5, end=120), [firing]) == NoChange("the end of an older episode", "T1")
    clear = dataclasses.replace(firing, firing=False)
    assert _decide(_alert(10, end=120), [clear]) == NoChange("the alert is resolved")


def test_a_reopening_notifies_only_a_master_that_notifies() -> None:
    resolved = _ticket("T1", TicketState.RESOLVED, 10, resolved=50)
    command = _decide(_alert(100), [resolved], notifies=False)
    assert isinstance(command, ReopenTicket)
    assert not command.notify


def test_record_of_a_ticket_without_last_seen_uses_its_creation() -> None:
    ticket = Ticket("T1", "fp", "t", TicketType.INCIDENT, Severity.MAJOR, created_at=T0)
    record = TicketRecord.of(ticket)
    assert record.last_seen == T0
    assert record.state is TicketState.NEW
    assert _decide(_alert(0), [record]) == NoChange("episode already recorded", "T1")


# Streams of alerts and people's actions are replayed through the production executor on
# a real store: tests/correlator/test_correlator_properties.py.


# -- grouping --


def test_group_key_is_the_fingerprint_of_the_group_by_labels() -> None:
    key = group_key(LABELS, ["service", "kind"])
    assert key == fingerprint({"kind": "dns_soa", "service": "sml"})
    assert key == group_key({**LABELS, "target": "ns2", "reason": "timeout"}, ["kind", "service"])
    assert key != group_key({**LABELS, "service": "smp"}, ["service", "kind"])
    assert group_key(LABELS, ["service", "absent"]) == fingerprint({"service": "sml"})


GROUP_WINDOW = timedelta(minutes=5)
GROUPS = {"g": GroupMaster("M1", T0)}


@pytest.mark.parametrize(
    ("key", "now", "expected"),
    [
        pytest.param("g", T0, "M1", id="at-opening"),
        pytest.param("g", T0 + GROUP_WINDOW - timedelta(microseconds=1), "M1", id="last-instant"),
        pytest.param("g", T0 + GROUP_WINDOW, None, id="at-window-end-new-group"),
        pytest.param("g", T0 + timedelta(hours=1), None, id="long-after"),
        pytest.param("g", T0 - timedelta(seconds=1), None, id="before-opening"),
        pytest.param("other", T0, None, id="other-group"),
    ],
)
def test_group_window_boundaries(key: str, now: datetime, expected: str | None) -> None:
    assert group_master(key, GROUPS, now, GROUP_WINDOW) == expected


# -- topology --

ZONE = "acc.edelivery.tech.ec.europa.eu"
TOPOLOGY = Topology.from_edges(
    [
        (f"ns1.{ZONE}", "participant-a"),
        (f"ns2.{ZONE}", "participant-a"),
        ("smp.example.test", "participant-a"),
        ("https://smp.example.test/", "smp.example.test"),
        ("crl.ca.test", "cert-ap1"),
        ("issuing-ca", "crl.ca.test"),
        ("issuing-ca", "crl.ca.test"),  # listed twice in the configuration
        ("cert-ap1", "issuing-ca"),  # a cycle must not hang anything
    ]
)


def _place(
    target: str,
    firing: dict[str, str],
    group_by: tuple[str, ...] = ("service",),
    groups: dict[str, GroupMaster] | None = None,
) -> Placement:
    alert = _alert(0, labels={**LABELS, "target": target})
    return place(
        alert,
        T0,
        topology=TOPOLOGY,
        firing_masters=firing,
        group_by=group_by,
        groups=groups or {},
        group_window=GROUP_WINDOW,
    )


def test_ancestors_nearest_first_without_duplicates_or_cycles() -> None:
    assert TOPOLOGY.ancestors("participant-a") == [
        f"ns1.{ZONE}",
        f"ns2.{ZONE}",
        "smp.example.test",
        "https://smp.example.test/",
    ]
    assert TOPOLOGY.ancestors("cert-ap1") == ["crl.ca.test", "issuing-ca"]
    assert TOPOLOGY.ancestors("unknown") == []


@pytest.mark.parametrize(
    ("target", "firing", "expected"),
    [
        pytest.param(
            "participant-a",
            {f"ns2.{ZONE}": "M-ZONE"},
            Placement("M-ZONE", notify=False, caused_by=f"ns2.{ZONE}"),
            id="zone-server-down-suppresses-participant",
        ),
        pytest.param(
            "cert-ap1",
            {"issuing-ca": "M-CA"},
            Placement("M-CA", notify=False, caused_by="issuing-ca"),
            id="transitive-certificate-under-ca",
        ),
        pytest.param(
            "cert-ap1",
            {"issuing-ca": "M-CA", "crl.ca.test": "M-CRL"},
            Placement("M-CRL", notify=False, caused_by="crl.ca.test"),
            id="nearest-failing-parent-wins",
        ),
        pytest.param(
            "participant-a",
            {"cert-ap1": "M-CERT"},
            Placement(group_key=fingerprint({"service": "sml"})),
            id="unrelated-firing-does-not-suppress",
        ),
        pytest.param(
            f"ns1.{ZONE}",
            {"participant-a": "M-P"},
            Placement(group_key=fingerprint({"service": "sml"})),
            id="a-dependant-never-suppresses-its-parent",
        ),
    ],
)
def test_topology_suppression(target: str, firing: dict[str, str], expected: Placement) -> None:
    assert _place(target, firing) == expected


def test_topology_comes_before_grouping() -> None:
    key = fingerprint({"service": "sml"})
    groups = {key: GroupMaster("M-GROUP", T0)}
    assert _place("participant-a", {}, groups=groups) == Placement("M-GROUP", group_key=key)
    assert _place("participant-a", {f"ns1.{ZONE}": "M-ZONE"}, groups=groups).master_id == "M-ZONE"


def test_no_group_by_means_its_own_master() -> None:
    assert _place("participant-a", {}, group_by=()) == Placement()


# -- flapping --

FLAP_WINDOW = timedelta(minutes=10)


@pytest.mark.parametrize(
    ("changes", "max_changes", "expected"),
    [
        pytest.param([-3, -2, -1], 3, False, id="at-threshold-not-flapping"),
        pytest.param([-3, -2, -1, 0], 3, True, id="above-threshold-flapping"),
        pytest.param([-10, -3, -2, -1], 3, False, id="change-at-window-start-excluded"),
        pytest.param([-9.99, -3, -2, -1], 3, True, id="change-just-inside-window"),
        pytest.param([-1, -4, -2, -3, -3.5], 4, True, id="order-does-not-matter"),
        pytest.param([-3, -2, -1, 0.01], 3, False, id="future-change-excluded"),
        pytest.param([], 0, False, id="no-changes"),
    ],
)
def test_flapping_thresholds(changes: list[float], max_changes: int, expected: bool) -> None:
    """More than `max_changes` state changes in the window (minutes before now) flap."""
    now = _at(100)
    stamps = [now + timedelta(minutes=m) for m in changes]
    assert is_flapping(stamps, now, window=FLAP_WINDOW, max_changes=max_changes) is expected


def test_recent_changes_keeps_the_window_sorted() -> None:
    now = _at(100)
    stamps = [_at(95), _at(80), _at(99), _at(90), _at(100)]
    assert recent_changes(stamps, now, FLAP_WINDOW) == [_at(95), _at(99), _at(100)]
