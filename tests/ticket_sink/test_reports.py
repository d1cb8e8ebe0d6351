"""Ticket figures computed by the database on SQLite and PostgreSQL: the metrics'
snapshot and the period report, against values worked out by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from correlator.correlator import CorrelationPolicy, Correlator
from correlator.rules import Alert
from tests.support import SteppedClock
from ticket_sink import Store
from ticket_sink.model import Severity
from ticket_sink.reports import report, report_to_dict, snapshot
from ticket_sink.sla import default_policy

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Brussels
POLICY = default_policy()


def alert(target: str, severity: Severity, ends: datetime | None = None) -> Alert:
    labels = {"alertname": "X", "kind": "http", "service": "smp", "target": target}
    return Alert(labels, {}, severity, T0, ends)


@pytest.fixture
async def history(url: str) -> AsyncIterator[Store]:
    """Three tickets: `a` (severity 2) recovers at +5 min and is auto-resolved at +7 min;
    `b` (severity 2) and `c` (severity 1) stay open; at +50 min `c` is at risk."""
    clock = SteppedClock(T0)
    async with Store(url, clock=clock) as store:
        driver = Correlator(
            store, POLICY, CorrelationPolicy(group_by=(), quiet_period=timedelta(minutes=2))
        )
        await driver.ingest(
            [alert("a", Severity.MAJOR), alert("b", Severity.MAJOR), alert("c", Severity.BLOCKING)]
        )
        clock.at(minutes=5)
        await driver.ingest([alert("a", Severity.MAJOR, ends=clock.now)])
        clock.at(minutes=7)
        await driver.sweep()
        clock.at(minutes=50)
        await driver.sweep()  # c: 50 of 60 minutes of its response target, at risk
        yield store


async def test_the_snapshot_counts_what_happened(history: Store) -> None:
    snap = await snapshot(history, POLICY)
    assert snap.created == {("2", "incident", "smp"): 2, ("1", "incident", "smp"): 1}
    assert snap.resolved == {("2", "incident", "smp"): 1}
    assert snap.open == {  # unclosed: a resolved ticket counts until it closes
        ("2", "resolved", "incident", "smp", "master"): 1,
        ("2", "new", "incident", "smp", "master"): 1,
        ("1", "new", "incident", "smp", "master"): 1,
    }
    assert snap.acknowledge_seconds == {"2": (420.0, 1)}
    assert snap.resolve_seconds == {"2": (420.0, 1)}
    # a's clocks stopped in time; nothing breached yet.
    assert snap.sla == {("2", "response", "met"): 1, ("2", "resolution", "met"): 1}
    assert snap.escalations == {"3": 1}  # c, from the service desk to the technical teams
    assert [(row[2], row[3]) for row in snap.info] == [("1", "new"), ("2", "new")]


async def test_the_report_covers_tickets_created_in_the_period(history: Store) -> None:
    found = await report(history, since=T0, until=T0 + timedelta(hours=1), policy=POLICY)
    assert (found.total, found.mtta_seconds, found.mttr_seconds) == (3, 420.0, 420.0)
    assert (found.sla_met, found.sla_breached, found.sla_compliance) == (2, 0, 1.0)
    assert found.by_state == {"resolved": 1, "new": 2}
    assert found.by_severity == {"2": 2, "1": 1}
    assert report_to_dict(found)["since"] == "2026-03-03T09:00:00Z"
    later = await report(
        history, since=T0 + timedelta(minutes=1), until=T0 + timedelta(hours=1), policy=POLICY
    )
    assert later.total == 0
    assert later.mtta_seconds is None
    assert later.sla_compliance is None
