"""A desk that is not in Brussels, played through the real pieces: the configuration
builds its calendar, an alert opens a severity-2 ticket through the correlator, people act
on it as the API does, and the sweep escalates and closes it. Every instant below was
computed by hand, as a service-desk lead would, in the comments beside it.

The desk: Las Palmas (Atlantic/Canary: UTC+0 in winter, UTC+1 from 29 March 2026), open
Monday-Friday 09:00-12:30 and 13:30-17:30, so 7.5 business hours a day; closed on Spanish
public holidays and on those of the Canary Islands. Severity 2: response within one
business day, resolution within three (the defaults, "1bd" and "3bd"), at risk at 75 %.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from correlator.correlator import Correlator
from correlator.rules import Alert
from tests.correlator.test_desk_scenario import act
from tests.support import SteppedClock
from ticket_sink import Store, schema
from ticket_sink.lifecycle import Action
from ticket_sink.model import Severity
from ticket_sink.sla import deadlines
from vigie.config import parse_config

CANARY = ZoneInfo("Atlantic/Canary")
DESK = """
correlator:
  reopen_window: 1h
  group_by: []
  sla:
    timezone: Atlantic/Canary
    business_hours:
      mon: ["09:00-12:30", "13:30-17:30"]
      tue: ["09:00-12:30", "13:30-17:30"]
      wed: ["09:00-12:30", "13:30-17:30"]
      thu: ["09:00-12:30", "13:30-17:30"]
      fri: ["09:00-12:30", "13:30-17:30"]
    holidays: ES
    holiday_subdivision: CN
"""
LABELS = {
    "alertname": "SmpUnreachable",
    "kind": "http",
    "service": "smp",
    "target": "https://smp.example.test",
    "reason": "connect_failed",
}


def cx(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=CANARY)


async def test_a_canarian_desk_gets_the_deadlines_a_desk_lead_computes(url: str) -> None:
    config = parse_config(DESK).correlator
    # The alert fires on Wednesday 1 April 2026 at 16:00 (UTC+1).
    clock = SteppedClock(cx(4, 1, 16))
    async with Store(url, clock=clock) as store:
        driver = Correlator(store, config.sla_policy(), config.policy([]))
        alert = Alert(LABELS, {}, Severity.MAJOR, clock.now)
        (ticket_id,) = (await driver.ingest([alert])).created
        async with store.transaction(write=False) as tx:
            stored = await tx.get(ticket_id)
        assert stored is not None
        due = deadlines(stored.ticket, driver.sla_policy)
        # By hand. Wednesday 16:00 is 6 h into the desk's day (09:00-12:30 is 3.5 h,
        # 13:30-16:00 is 2.5 h). Thursday 2 April is Maundy Thursday (a holiday of the
        # Canary Islands, not of all Spain) and Friday 3 Good Friday; then the weekend.
        # Easter Monday is a working day there. One business day: 6 h into Monday 6 April,
        # which is 16:00. Three: Monday 6, Tuesday 7, Wednesday 8, at 16:00.
        assert due.response_due == cx(4, 6, 16)
        assert due.resolution_due == cx(4, 8, 16)

        # Acknowledged on Monday at 10:00: the response target is met, no escalation.
        clock.now = cx(4, 6, 10)
        await act(store, ticket_id, Action.ACKNOWLEDGE)
        await act(store, ticket_id, Action.START)
        # Resolution at risk after 75 % of its 22.5 business hours (1.5 h on Wednesday 1,
        # 7.5 h on Monday, 7.5 h on Tuesday, 6 h on Wednesday 8), that is 16 h 52 min 30 s:
        # 1.5 h on Wednesday 1, 7.5 h on Monday and on Tuesday leave 22 min 30 s, so
        # Wednesday 8 April at 09:22:30. Breached at the due instant, 16:00.
        clock.now = cx(4, 8, 9, 22)
        assert not (await driver.sweep()).actions
        clock.now = cx(4, 8, 9, 23)
        assert (await driver.sweep()).actions == {"escalate": 1}
        clock.now = cx(4, 8, 15, 59)
        assert not (await driver.sweep()).actions
        clock.now = cx(4, 8, 16, 1)
        assert (await driver.sweep()).actions == {"escalate": 1}

        # The alert recovers on Thursday 9 April at 10:00 and the desk resolves at 11:00.
        clock.now = cx(4, 9, 10)
        await driver.ingest([Alert(LABELS, {}, Severity.MAJOR, alert.starts_at, clock.now)])
        clock.now = cx(4, 9, 11)
        await act(store, ticket_id, Action.RESOLVE, resolution="SMP certificate renewed")
        # Closing five business days after the resolution, at the same wall time: Friday
        # 10, Monday 13, Tuesday 14, Wednesday 15, Thursday 16 April, 11:00.
        clock.now = cx(4, 16, 10, 59)
        assert not (await driver.sweep()).actions
        clock.now = cx(4, 16, 11, 30)
        assert (await driver.sweep()).actions == {"close": 1}

        async with store.transaction(write=False) as tx:
            events = (
                await tx.connection.execute(
                    sa.select(schema.ticket_events)
                    .where(schema.ticket_events.c.actor == "correlator")
                    .order_by(schema.ticket_events.c.id)
                )
            ).all()
    steps = [(e.at, e.action, e.field, e.after) for e in events if e.action != "create"]
    assert steps == [
        (cx(4, 8, 9, 22, 30), "escalate", "escalation_level", "3"),
        (cx(4, 8, 9, 22, 30), "escalate", "sla_marks", "resolution:at_risk"),
        (cx(4, 8, 16), "escalate", "escalation_level", "4"),
        (cx(4, 8, 16), "escalate", "sla_marks", "resolution:at_risk,resolution:breached"),
        (cx(4, 16, 11), "close", "state", "closed"),
        (cx(4, 16, 11), "close", "closed_at", "2026-04-16T11:00:00+01:00"),
        (cx(4, 16, 11), "close", "close_reason", "resolved"),
    ]
