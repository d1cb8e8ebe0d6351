"""The severity-1 scenario of `tests/ticket_sink/test_sla_scenarios.py`, played through
the real pieces: the alert opens the ticket through the correlator, people act on it as the
API does (lifecycle + store), and the correlator's sweep escalates and closes it. Every
instant below was computed by hand there (Friday 20 November 2026, 19:00 Brussels)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from correlator.correlator import CorrelationPolicy, Correlator
from correlator.rules import Alert
from tests.support import SteppedClock
from ticket_sink import Store, schema
from ticket_sink.lifecycle import Action, apply
from ticket_sink.model import Severity
from ticket_sink.sla import default_policy

BRUSSELS = ZoneInfo("Europe/Brussels")


def bx(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BRUSSELS)


async def act(store: Store, ticket_id: str, action: Action, **arguments: str) -> None:
    async with store.transaction() as tx:
        stored = await tx.get(ticket_id)
        assert stored is not None
        changed, events = apply(stored.ticket, action, actor="alice", at=tx.now, **arguments)  # type: ignore[arg-type]
        await tx.save(changed, events)


async def test_severity_1_friday_evening_through_the_correlator_and_the_store(url: str) -> None:
    clock = SteppedClock(bx(11, 20, 19))
    async with Store(url, clock=clock) as store:
        driver = Correlator(store, default_policy(), CorrelationPolicy(group_by=()))
        labels = {
            "alertname": "CrlUnreachable",
            "kind": "crl",
            "service": "pki",
            "target": "http://crl.example.test/issuing.crl",
            "reason": "crl_unreachable",
        }
        result = await driver.ingest([Alert(labels, {}, Severity.BLOCKING, clock.now)])
        (ticket_id,) = result.created

        for moment, action in (
            (bx(11, 20, 19, 20), Action.ACKNOWLEDGE),
            (bx(11, 20, 19, 30), Action.START),
        ):
            clock.now = moment
            await act(store, ticket_id, action)
        clock.now = bx(11, 20, 21, 59)
        assert not (await driver.sweep()).actions
        clock.now = bx(11, 20, 22, 5)
        assert (await driver.sweep()).actions == {"escalate": 1}
        clock.now = bx(11, 20, 23, 30)
        assert (await driver.sweep()).actions == {"escalate": 1}
        clock.now = bx(11, 21, 12)
        assert not (await driver.sweep()).actions

        clock.now = bx(11, 23, 9)
        await act(store, ticket_id, Action.HOLD)
        clock.now = bx(11, 23, 15)
        await act(store, ticket_id, Action.RESUME)
        clock.now = bx(11, 24, 11)
        await act(store, ticket_id, Action.RESOLVE, resolution="CRL endpoint back, cache purged")

        clock.now = bx(12, 1, 10, 59)
        assert not (await driver.sweep()).actions
        clock.now = bx(12, 1, 11, 30)
        assert (await driver.sweep()).actions == {"close": 1}

        async with store.transaction(write=False) as tx:
            events = (
                await tx.connection.execute(
                    sa.select(schema.ticket_events).order_by(schema.ticket_events.c.id)
                )
            ).all()
            outbox = (
                await tx.connection.execute(sa.select(schema.outbox).order_by(schema.outbox.c.at))
            ).all()
            final = await tx.get(ticket_id)

    assert final is not None
    assert (final.ticket.state, final.ticket.close_reason) == ("closed", "resolved")
    # The escalations fall due at 22:00 (75 % of 4 h) and 23:00 (breached); the close at
    # Tuesday 1 December 11:00, five business days after the resolution.
    seen = [(e.actor, e.at, e.action, e.field, e.before, e.after) for e in events]
    sla_steps = [
        (at, action, field, after)
        for actor, at, action, field, _, after in seen
        if actor == "correlator"
    ]
    assert sla_steps == [
        (bx(11, 20, 19), "create", "state", "new"),
        (bx(11, 20, 22), "escalate", "escalation_level", "3"),
        (bx(11, 20, 22), "escalate", "sla_marks", "resolution:at_risk"),
        (bx(11, 20, 23), "escalate", "escalation_level", "4"),
        (bx(11, 20, 23), "escalate", "sla_marks", "resolution:at_risk,resolution:breached"),
        (bx(12, 1, 11), "close", "state", "closed"),
        (bx(12, 1, 11), "close", "closed_at", "2026-12-01T11:00:00+01:00"),
        (bx(12, 1, 11), "close", "close_reason", "resolved"),
    ]
    people = [(at, action, field) for actor, at, action, field, _, _ in seen if actor == "alice"]
    assert [action for _, action, _ in people] == [
        "acknowledge",
        "acknowledge",
        "start",
        "hold",
        "hold",
        "resume",
        "resume",
        "resume",
        "resolve",
        "resolve",
        "resolve",
    ]
    assert [(n.event, n.at) for n in outbox] == [
        ("created", bx(11, 20, 19)),
        ("escalated", bx(11, 20, 22, 5)),
        ("sla_at_risk", bx(11, 20, 22, 5)),
        ("escalated", bx(11, 20, 23, 30)),
        ("sla_breached", bx(11, 20, 23, 30)),
    ]
