"""The executor of one `ingest` of the correlator: the decisions of `correlator.decide` for
a batch of alerts, carried out inside one store transaction.

`Batch` reads what the batch needs once (the unclosed tickets of its fingerprints, what
placement needs), decides alert by alert, and leaves the writes buffered in the
transaction. It must never commit, retry or remember across batches: `Correlator` does.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from correlator.decide import (
    CreateTicket,
    GroupMaster,
    NoChange,
    Placement,
    ReopenTicket,
    TicketRecord,
    Topology,
    UpdateTicket,
    decide,
    episode_recorded,
    group_key,
    place,
)
from correlator.rules import Alert
from ticket_sink import Correlation, StoredTicket, TicketTx
from ticket_sink.flapping import is_flapping, recent_changes
from ticket_sink.lifecycle import (
    Action,
    apply,
    attach_known_error,
    created,
)
from ticket_sink.model import (
    AuditEvent,
    CloseReason,
    KnownError,
    NotificationEvent,
    Ticket,
    TicketState,
    TicketType,
)
from ticket_sink.sweep import AUTOMATION
from ticket_sink.tickets import new_ticket_id

__all__ = ["ACTOR", "Batch", "CorrelationPolicy", "IngestResult"]

ACTOR = AUTOMATION


@dataclass(frozen=True, slots=True)
class CorrelationPolicy:
    """How alerts become tickets; the defaults are the documented configuration defaults."""

    reopen_window: timedelta = timedelta(hours=1)
    group_by: tuple[str, ...] = ("service", "alertname")
    group_window: timedelta = timedelta(minutes=5)
    # A new master's notification waits this long so its group can gather first.
    group_wait: timedelta = timedelta(seconds=30)
    quiet_period: timedelta = timedelta(minutes=2)
    flap_window: timedelta = timedelta(minutes=30)
    flap_max_changes: int = 6
    topology: Topology = field(default_factory=Topology)
    node_label: str = "target"


@dataclass(slots=True)
class IngestResult:
    """What one `ingest` did, by decision (`created`, `updated`, `reopened`, `recovered`,
    `unchanged`), and the tickets it created."""

    counts: Counter[str] = field(default_factory=Counter)
    created: list[str] = field(default_factory=list)


class Batch:
    """One `ingest` call's work inside its transaction."""

    def __init__(self, tx: TicketTx, policy: CorrelationPolicy, source: str) -> None:
        self._tx = tx
        self._policy = policy
        self._source = source
        self._result = IngestResult()
        self._current: dict[str, StoredTicket] = {}
        self._records: dict[str, tuple[TicketRecord, bool]] = {}
        self._closed: dict[str, StoredTicket] = {}
        self._known_errors: list[KnownError] | None = None
        # What placement needs, read once for the whole batch and kept up to date as the
        # batch creates and moves tickets (so the writes stay buffered until the end):
        # node → the master of its firing ticket, for the batch's ancestor nodes; group
        # key → (master id, opened at) of the groups still gathering.
        self._firing: dict[str, str] = {}
        self._groups: dict[str, tuple[str, datetime]] = {}

    async def run(self, alerts: Sequence[Alert]) -> IngestResult:
        tx, policy = self._tx, self._policy
        fingerprints = {alert.fingerprint for alert in alerts}
        self._records = await tx.unclosed_records(fingerprints)
        # Whole rows only for the tickets an alert may change; repeats need none.
        self._current = await tx.unclosed_by_fingerprint(
            {alert.fingerprint for alert in alerts if self._may_change(alert)}
        )
        self._closed = await tx.latest_closed_many(fingerprints - self._records.keys())
        # Placement only matters for alerts that may open a ticket: those whose
        # fingerprint has no unclosed ticket, or only a resolved one.
        firing = [a for a in alerts if a.firing and self._may_open(a)]
        nodes = {alert.labels.get(policy.node_label, "") for alert in firing}
        ancestors = {parent for node in nodes for parent in policy.topology.ancestors(node)}
        self._firing = await tx.firing_masters(nodes | ancestors)
        if policy.group_by:
            keys = {group_key(alert.labels, policy.group_by) for alert in firing}
            self._groups = await tx.group_masters(keys, tx.now - policy.group_window)
        for alert in alerts:
            await self._one(alert)
        return self._result

    def observed(self) -> dict[str, tuple[datetime, bool]]:
        """Each fingerprint's latest recorded episode and whether its alert fires, as this
        batch leaves them (to remember once it is committed)."""
        found = {fp: (record.last_seen, firing) for fp, (record, firing) in self._records.items()}
        for fp, closed in self._closed.items():
            if fp not in found:
                found[fp] = (closed.ticket.last_seen or closed.ticket.created_at, False)
        for fp, stored in self._current.items():
            ticket = stored.ticket
            found[fp] = (ticket.last_seen or ticket.created_at, stored.correlation.firing)
        return found

    def _may_change(self, alert: Alert) -> bool:
        """Whether `alert` may change its unclosed ticket (judged from the light record);
        a repeat of the episode already recorded may not."""
        found = self._records.get(alert.fingerprint)
        if found is None:
            return False
        record, firing = found
        if alert.firing:
            return not episode_recorded(alert, record.last_seen)
        return firing and alert.starts_at >= record.last_seen

    def _may_open(self, alert: Alert) -> bool:
        found = self._records.get(alert.fingerprint)
        return found is None or found[0].state is TicketState.RESOLVED

    async def _stored(self, fingerprint: str) -> StoredTicket | None:
        """The whole unclosed ticket of `fingerprint`, read now if the batch lacks it."""
        stored = self._current.get(fingerprint)
        if stored is None and fingerprint in self._records:
            stored = await self._tx.get(self._records[fingerprint][0].id)
            if stored is not None:
                self._current[fingerprint] = stored
        return stored

    def _record(self, fingerprint: str) -> tuple[TicketRecord, bool] | None:
        stored = self._current.get(fingerprint)
        if stored is not None:
            firing = stored.correlation.firing
            return TicketRecord.of(stored.ticket, firing=firing), firing
        return self._records.get(fingerprint)

    async def _one(self, alert: Alert) -> None:
        found = self._record(alert.fingerprint)
        if not alert.firing:
            if found is None and alert.fingerprint in self._closed:
                await self._recovered_after_close(alert)
                return
            if found is None or not found[1] or alert.ends_at is None:
                self._result.counts["unchanged"] += 1
                return
            await self._recovered(alert, await self._stored(alert.fingerprint))
            return
        records = [found[0]] if found else []
        if found is None and alert.fingerprint in self._closed:
            closed = self._closed[alert.fingerprint]
            records.append(TicketRecord.of(closed.ticket, firing=closed.correlation.firing))
        now = self._tx.now
        command = decide(alert, records, now, reopen_window=self._policy.reopen_window)
        if isinstance(command, NoChange):
            self._result.counts["unchanged"] += 1
            return
        stored = await self._stored(alert.fingerprint)
        if isinstance(command, UpdateTicket):
            assert stored is not None
            await self._occurrence(alert, stored, reopened=False)
        elif isinstance(command, ReopenTicket):
            assert stored is not None
            await self._occurrence(alert, stored, reopened=True)
        elif isinstance(command, CreateTicket):
            await self._create(alert, command, stored)

    def _flips(self, correlation: Correlation, at: datetime) -> tuple[tuple[datetime, ...], bool]:
        """The recent alert flips with one more at `at`, and whether that is flapping."""
        window = self._policy.flap_window
        changes = (*recent_changes(correlation.alert_changes, self._tx.now, window), at)
        flapping = is_flapping(
            changes, self._tx.now, window=window, max_changes=self._policy.flap_max_changes
        )
        return changes, flapping

    async def _recovered(self, alert: Alert, stored: StoredTicket | None) -> None:
        """A resolved alert: the ticket's alert stopped firing (once per episode)."""
        if stored is None or not stored.correlation.firing or alert.ends_at is None:
            self._result.counts["unchanged"] += 1
            return
        last_seen = stored.ticket.last_seen or stored.ticket.created_at
        if alert.starts_at < last_seen:
            self._result.counts["unchanged"] += 1  # the end of an older episode
            return
        changes, flapping = self._flips(stored.correlation, alert.ends_at)
        correlation = dataclasses.replace(
            stored.correlation,
            firing=False,
            recovered_at=alert.ends_at,
            alert_changes=changes,
            flapping=stored.correlation.flapping or flapping,
        )
        await self._tx.update_correlation(stored.ticket.id, correlation)
        self._current[alert.fingerprint] = dataclasses.replace(stored, correlation=correlation)
        self._firing.pop(correlation.node, None)
        self._result.counts["recovered"] += 1

    async def _recovered_after_close(self, alert: Alert) -> None:
        """The alert of a ticket closed while it fired stopped: no live problem is left
        to open a new ticket for, should the old episode be heard of again."""
        closed = self._closed[alert.fingerprint]
        last_seen = closed.ticket.last_seen or closed.ticket.created_at
        if not closed.correlation.firing or alert.ends_at is None or alert.starts_at < last_seen:
            self._result.counts["unchanged"] += 1
            return
        correlation = dataclasses.replace(
            closed.correlation, firing=False, recovered_at=alert.ends_at
        )
        await self._tx.update_correlation(closed.ticket.id, correlation)
        self._closed[alert.fingerprint] = dataclasses.replace(closed, correlation=correlation)
        self._result.counts["recovered"] += 1

    async def _occurrence(self, alert: Alert, stored: StoredTicket, *, reopened: bool) -> None:
        ticket, events = stored.ticket, list[AuditEvent]()
        now = self._tx.now
        if reopened:
            ticket, events = apply(ticket, Action.REJECT_RESOLUTION, actor=ACTOR, at=now)
            events = [dataclasses.replace(e, action="reopen") for e in events]
        ticket, counted = apply(
            ticket,
            Action.RECORD_OCCURRENCE,
            actor=ACTOR,
            at=max(alert.starts_at, ticket.created_at),
        )
        ticket = dataclasses.replace(ticket, last_seen=alert.starts_at)
        correlation = stored.correlation
        changes, flapping = correlation.alert_changes, correlation.flapping
        if not correlation.firing:
            changes, flipped = self._flips(correlation, alert.starts_at)
            flapping = flapping or flipped
        correlation = dataclasses.replace(
            correlation, firing=True, recovered_at=None, alert_changes=changes, flapping=flapping
        )
        await self._tx.save(ticket, events + counted, correlation)
        self._current[alert.fingerprint] = StoredTicket(ticket, correlation, now)
        self._firing.setdefault(correlation.node, ticket.master_id or ticket.id)
        self._result.counts["reopened" if reopened else "updated"] += 1
        if reopened and ticket.master_id is None and correlation.notify:
            await self._tx.enqueue(
                NotificationEvent.REOPENED, ticket, detail=alert.labels.get("reason", "")
            )

    def _placement(self, alert: Alert) -> Placement:
        policy, tx = self._policy, self._tx
        node = alert.labels.get(policy.node_label, "")
        firing = {
            parent: self._firing[parent]
            for parent in (node, *policy.topology.ancestors(node))
            if parent in self._firing
        }
        groups: Mapping[str, GroupMaster] = {}
        if policy.group_by and not firing:
            key = group_key(alert.labels, policy.group_by)
            if key in self._groups:
                ticket_id, opened = self._groups[key]
                groups = {key: GroupMaster(ticket_id, opened)}
        return place(
            alert,
            tx.now,
            topology=policy.topology,
            firing_masters=firing,
            group_by=policy.group_by,
            groups=groups,
            group_window=policy.group_window,
            node_label=policy.node_label,
        )

    async def _create(
        self, alert: Alert, command: CreateTicket, stored: StoredTicket | None
    ) -> None:
        tx, now = self._tx, self._tx.now
        if stored is not None and stored.ticket.state is TicketState.RESOLVED:
            # The recurrence came after the reopen window: the resolution stands, and the
            # new ticket refers to the closed one (one unclosed ticket per fingerprint).
            closed, events = apply(
                stored.ticket, Action.CLOSE, actor=ACTOR, at=now, reason=CloseReason.RESOLVED
            )
            await tx.save(closed, events)
        placement = self._placement(alert)
        if placement.master_id is not None and placement.caused_by is None:
            placement = await self._parent_leads_group(alert, placement)
        ticket = Ticket(
            id=new_ticket_id(),
            fingerprint=command.fingerprint,
            title=command.title,
            type=TicketType.INCIDENT,
            severity=command.severity,
            created_at=now,
            labels=dict(command.labels),
            master_id=placement.master_id,
            refers_to=command.refers_to,
            last_seen=command.last_seen,
        )
        events = created(ticket, actor=ACTOR)
        if self._known_errors is None:
            self._known_errors = await tx.known_errors()
        ticket, attached = attach_known_error(ticket, self._known_errors, actor=ACTOR, at=now)
        correlation = Correlation.for_labels(
            ticket.labels,
            group_key=placement.group_key,
            caused_by=placement.caused_by,
            notify=placement.notify,
            firing=True,
            alert_changes=(command.last_seen,),
            reporter=self._source,
        )
        await tx.insert(ticket, correlation, events + attached)
        self._current[command.fingerprint] = StoredTicket(ticket, correlation, now)
        self._firing.setdefault(correlation.node, ticket.master_id or ticket.id)
        if ticket.master_id is None and placement.group_key is not None:
            self._groups[placement.group_key] = (ticket.id, now)
        self._result.counts["created"] += 1
        self._result.created.append(ticket.id)
        await self._adopt_dependants(ticket, correlation)
        if ticket.master_id is None and correlation.notify:
            await tx.enqueue(
                NotificationEvent.CREATED, ticket, due_at=now + self._policy.group_wait
            )

    async def _parent_leads_group(self, alert: Alert, placement: Placement) -> Placement:
        """A ticket that joins a group whose master depends on it (the zone, joining the
        group of one of its name servers) leads the group instead: the likelier root cause
        is the master, and the old master moves under it (`_adopt_dependants`)."""
        node = alert.labels.get(self._policy.node_label, "")
        dependants = set(self._policy.topology.dependants(node))
        if not dependants or placement.master_id is None:
            return placement
        master = await self._tx.get(placement.master_id)
        if master is None or master.correlation.node not in dependants:
            return placement
        return dataclasses.replace(placement, master_id=None)

    async def _adopt_dependants(self, ticket: Ticket, correlation: Correlation) -> None:
        """A parent started failing after its dependants: their tickets (and whatever hangs
        under them) move under this ticket's master, and stop notifying on their own."""
        dependants = self._policy.topology.dependants(correlation.node)
        if not dependants:
            return
        masters = await self._tx.masters_at_nodes(dependants)
        if not masters:
            return
        master_id = ticket.master_id or ticket.id
        moved = await self._tx.link(masters, master_id, caused_by=correlation.node, actor=ACTOR)
        moved_ids = {stored.ticket.id for stored in moved}
        for stored in moved:
            if stored.ticket.fingerprint in self._current:
                self._current[stored.ticket.fingerprint] = stored
        # The moved masters lead nothing any more: their nodes' failures and their groups
        # now belong to the new master.
        self._firing = {n: master_id if m in moved_ids else m for n, m in self._firing.items()}
        self._groups = {k: v for k, v in self._groups.items() if v[0] not in moved_ids}
