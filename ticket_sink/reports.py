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
from ticket_sink.sla import SlaPolicy
from ticket_sink.store import Store

__all__ = ["INFO_LIMIT", "Report", "TicketSnapshot", "report", "report_to_dict", "snapshot"]

# The open tickets table of the dashboards: the most urgent masters still being worked.
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


def _seconds_between(later: Any, earlier: Any, dialect: str) -> Any:
    """SQL for `later - earlier` in seconds (SQLite stores UTC text, PostgreSQL timestamps)."""
    if dialect == "postgresql":
        return sa.func.extract("epoch", later - earlier)
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


def _marked(mark: str) -> Any:
    """Tickets whose `sla_marks` (a JSON list of strings) holds `mark`."""
    return sa.cast(_T.c.sla_marks, sa.Text).like(f'%"{mark}"%')


async def snapshot(store: Store, policy: SlaPolicy) -> TicketSnapshot:
    """The counts behind the metrics, computed by the database (GROUP BY), so a sweep
    over 100,000 tickets reads a few hundred rows, not the tickets."""
    result = TicketSnapshot()
    unclosed = _T.c.state != "closed"
    severity, kind, service = _T.c.severity, _T.c.type, _T.c.service
    count = sa.func.count()
    async with store.transaction(write=False, inline=False) as tx:  # scans the tickets
        connection = tx.connection
        dialect = connection.dialect.name

        async def rows(query: Any) -> list[Any]:
            return list((await connection.execute(query)).all())

        is_master = _T.c.master_id.is_(None)
        for row in await rows(
            sa.select(severity, _T.c.state, kind, service, is_master.label("master"), count)
            .where(unclosed)
            .group_by(severity, _T.c.state, kind, service, is_master)
        ):
            role = "master" if row.master else "child"
            result.open[str(row.severity), row.state, row.type, row.service, role] = row[-1]
        for counter, where in (
            (result.created, sa.true()),
            (result.resolved, _T.c.resolved_at.is_not(None)),
        ):
            for row in await rows(
                sa.select(severity, kind, service, count)
                .where(where)
                .group_by(severity, kind, service)
            ):
                counter[str(row.severity), row.type, row.service] = row[-1]
        for target, stop in (
            (result.acknowledge_seconds, _T.c.acknowledged_at),
            (result.resolve_seconds, _T.c.resolved_at),
        ):
            seconds = sa.func.sum(_seconds_between(stop, _T.c.created_at, dialect))
            for row in await rows(
                sa.select(severity, seconds, count).where(stop.is_not(None)).group_by(severity)
            ):
                # Milliseconds: SQLite's julianday arithmetic is a float of days.
                target[str(row.severity)] = (round(float(row[1] or 0.0), 3), row[2])
        for clock, stop in (("response", _T.c.acknowledged_at), ("resolution", _T.c.resolved_at)):
            with_target = [
                int(level)
                for level, goal in policy.targets.items()
                if getattr(goal, clock) is not None
            ]
            breached = _marked(f"{clock}:breached")
            outcome = sa.case((breached, "breached"), else_="met").label("outcome")
            for row in await rows(
                sa.select(severity, outcome, count)
                .where(severity.in_(with_target), sa.or_(breached, stop.is_not(None)))
                .group_by(severity, outcome)
            ):
                result.sla[str(row.severity), clock, row.outcome] = row[-1]
            for row in await rows(
                sa.select(severity, count)
                .where(unclosed, is_master, breached, stop.is_(None))
                .group_by(severity)
            ):
                result.sla_breached_open[str(row.severity), clock] = row[-1]
        info = await rows(
            sa.select(_T.c.id, _T.c.title, severity, _T.c.state, service, _T.c.escalation_level)
            .where(_T.c.state.in_(schema.ACTIVE_STATE_VALUES), is_master)
            .order_by(severity, _T.c.created_at, _T.c.id)
            .limit(INFO_LIMIT)
        )
        result.info = [
            (r.id, r.title, str(r.severity), r.state, r.service, str(r.escalation_level))
            for r in info
        ]
        events = schema.ticket_events.c
        for level, n in await rows(
            sa.select(events.after, count)
            .where(events.action == "escalate", events.field == "escalation_level")
            .group_by(events.after)
        ):
            result.escalations[str(level)] = n
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
    async with store.transaction(write=False, inline=False) as tx:  # scans the tickets
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
