"""Ticket figures: the snapshot behind the `vigie_ticket*` metrics, and the period report
(MTTA, MTTR, SLA compliance, counts by severity, state, type and service) that the API
serves.

Read-only: it must never change a ticket. Label values are bounded (severity, state, type,
configured service names, escalation levels); the one per-ticket metric is capped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ticket_sink import schema
from ticket_sink.codec import iso
from ticket_sink.sla import SlaPolicy, status
from ticket_sink.store import Store

__all__ = ["INFO_LIMIT", "Report", "TicketSnapshot", "report", "report_to_dict", "snapshot"]

# The open tickets table of the dashboards: the most urgent open masters, no more.
INFO_LIMIT = 50
_T = schema.tickets


@dataclass(slots=True)
class TicketSnapshot:
    """Counts at one moment; counters count every ticket ever (nothing is deleted)."""

    open: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)
    info: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)
    created: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    resolved: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    acknowledge_seconds: dict[str, tuple[float, int]] = field(default_factory=dict)
    resolve_seconds: dict[str, tuple[float, int]] = field(default_factory=dict)
    sla: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    sla_breached_open: Counter[tuple[str, str]] = field(default_factory=Counter)
    escalations: Counter[str] = field(default_factory=Counter)


def _clock_outcomes(row: Any, policy: SlaPolicy) -> Iterable[tuple[str, str]]:
    """(clock, met|breached) for the stopped or breached clocks of one ticket row."""
    target = policy.targets.get(row.severity)
    marks = set(row.sla_marks)
    for clock, goal, stopped in (
        ("response", None if target is None else target.response, row.acknowledged_at),
        ("resolution", None if target is None else target.resolution, row.resolved_at),
    ):
        if goal is None:
            continue
        if f"{clock}:breached" in marks:
            yield clock, "breached"
        elif stopped is not None:
            yield clock, "met"


async def snapshot(store: Store, policy: SlaPolicy) -> TicketSnapshot:
    result = TicketSnapshot()
    columns = (
        _T.c.id,
        _T.c.title,
        _T.c.severity,
        _T.c.state,
        _T.c.type,
        _T.c.service,
        _T.c.master_id,
        _T.c.escalation_level,
        _T.c.created_at,
        _T.c.acknowledged_at,
        _T.c.resolved_at,
        _T.c.sla_marks,
    )
    async with store.transaction(write=False) as tx:
        rows = (await tx.connection.execute(sa.select(*columns))).all()
        levels = (
            await tx.connection.execute(
                sa.select(schema.ticket_events.c.after, sa.func.count())
                .where(
                    schema.ticket_events.c.action == "escalate",
                    schema.ticket_events.c.field == "escalation_level",
                )
                .group_by(schema.ticket_events.c.after)
            )
        ).all()
        open_tickets = await tx.unclosed()
        now = tx.now
    acknowledge: dict[str, list[float]] = {}
    resolve: dict[str, list[float]] = {}
    masters = []
    for row in rows:
        severity = str(row.severity)
        result.created[severity, row.type, row.service] += 1
        if row.resolved_at is not None:
            result.resolved[severity, row.type, row.service] += 1
            resolve.setdefault(severity, []).append(
                (row.resolved_at - row.created_at).total_seconds()
            )
        if row.acknowledged_at is not None:
            acknowledge.setdefault(severity, []).append(
                (row.acknowledged_at - row.created_at).total_seconds()
            )
        for clock, outcome in _clock_outcomes(row, policy):
            result.sla[severity, clock, outcome] += 1
        if row.state != "closed":
            role = "child" if row.master_id else "master"
            result.open[severity, row.state, row.type, row.service, role] += 1
            if role == "master":
                masters.append(row)
    masters.sort(key=lambda row: (row.severity, row.created_at))
    result.info = [
        (r.id, r.title, str(r.severity), r.state, r.service, str(r.escalation_level))
        for r in masters[:INFO_LIMIT]
    ]
    result.acknowledge_seconds = {k: (sum(v), len(v)) for k, v in acknowledge.items()}
    result.resolve_seconds = {k: (sum(v), len(v)) for k, v in resolve.items()}
    result.escalations = Counter({str(level): count for level, count in levels})
    for stored in open_tickets:
        ticket = stored.ticket
        if ticket.master_id is not None:
            continue
        sla = status(ticket, policy, now)
        for state in (sla.response, sla.resolution):
            if state is not None and state.breached and not state.met:
                result.sla_breached_open[str(int(ticket.severity)), state.clock.value] += 1
    return result


@dataclass(frozen=True, slots=True)
class Report:
    """Tickets created in `[since, until)`."""

    since: datetime
    until: datetime
    total: int
    mtta_seconds: float | None  # mean time to acknowledge, of those acknowledged
    mttr_seconds: float | None  # mean time to resolve, of those resolved
    sla_met: int
    sla_breached: int
    by_severity: dict[str, int]
    by_state: dict[str, int]
    by_type: dict[str, int]
    by_service: dict[str, int]

    @property
    def sla_compliance(self) -> float | None:
        judged = self.sla_met + self.sla_breached
        return None if judged == 0 else self.sla_met / judged


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


async def report(store: Store, *, since: datetime, until: datetime, policy: SlaPolicy) -> Report:
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    query = sa.select(_T).where(_T.c.created_at >= since, _T.c.created_at < until)
    async with store.transaction(write=False) as tx:
        rows = (await tx.connection.execute(query)).all()
    severities: Counter[str] = Counter()
    states: Counter[str] = Counter()
    types: Counter[str] = Counter()
    services: Counter[str] = Counter()
    acknowledge, resolve = [], []
    outcomes: Counter[str] = Counter()
    for row in rows:
        severities[str(row.severity)] += 1
        states[row.state] += 1
        types[row.type] += 1
        services[row.service or "(none)"] += 1
        if row.acknowledged_at is not None:
            acknowledge.append((row.acknowledged_at - row.created_at).total_seconds())
        if row.resolved_at is not None:
            resolve.append((row.resolved_at - row.created_at).total_seconds())
        for _clock, outcome in _clock_outcomes(row, policy):
            outcomes[outcome] += 1
    return Report(
        since=since,
        until=until,
        total=len(rows),
        mtta_seconds=_mean(acknowledge),
        mttr_seconds=_mean(resolve),
        sla_met=outcomes["met"],
        sla_breached=outcomes["breached"],
        by_severity=dict(severities),
        by_state=dict(states),
        by_type=dict(types),
        by_service=dict(services),
    )


def report_to_dict(value: Report) -> dict[str, Any]:
    return {
        "since": iso(value.since),
        "until": iso(value.until),
        "total": value.total,
        "mtta_seconds": value.mtta_seconds,
        "mttr_seconds": value.mttr_seconds,
        "sla_met": value.sla_met,
        "sla_breached": value.sla_breached,
        "sla_compliance": value.sla_compliance,
        "by_severity": value.by_severity,
        "by_state": value.by_state,
        "by_type": value.by_type,
        "by_service": value.by_service,
    }
