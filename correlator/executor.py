"""The executor of one `ingest` of the correlator: the commands of `correlator.decide` for
a batch of alerts, carried out inside one store transaction.

`Batch` reads what the batch's decisions need once (the tickets of its fingerprints, the
firing masters and gathering groups placement looks at), keeps that snapshot up to date
as it writes, and carries each command out exactly as decided. It must never decide
anything itself (no rule about episodes, placement, flapping or notifications is written
here), never commit, retry or remember across batches: `Correlator` does.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from correlator.decide import (
    CorrelationPolicy,
    CreateTicket,
    GroupMaster,
    NoChange,
    RecoverTicket,
    ReopenTicket,
    Snapshot,
    TicketCommand,
    TicketRecord,
    UpdateTicket,
    decide,
    group_key,
)
from correlator.rules import Alert
from ticket_sink import Correlation, StoredTicket, TicketTx, correlation_queries
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
    TicketType,
)
from ticket_sink.sweep import AUTOMATION
from ticket_sink.ticket_rows import new_ticket_id

__all__ = ["ACTOR", "Batch", "CorrelationPolicy", "IngestResult"]

ACTOR = AUTOMATION


@dataclass(slots=True)
class IngestResult:
    """What one `ingest` did, by decision (`created`, `updated`, `reopened`, `recovered`,
    `unchanged`), and the tickets it created."""

    counts: Counter[str] = field(default_factory=Counter)
    created: list[str] = field(default_factory=list)


def _changes_a_ticket(command: TicketCommand) -> bool:
    """Whether carrying `command` out changes an existing ticket (whose whole row the
    batch then needs)."""
    if isinstance(command, CreateTicket):
        return command.closes is not None
    return not isinstance(command, NoChange)


class Batch:
    """One `ingest` call's work inside its transaction."""

    def __init__(self, tx: TicketTx, policy: CorrelationPolicy, source: str) -> None:
        self._tx = tx
        self._policy = policy
        self._source = source
        self._result = IngestResult()
        # The batch's view of the store, kept up to date as it writes (the writes stay
        # buffered until the end): each fingerprint's unclosed ticket, as a light record
        # (with whether its alert fires) and, for those a command changes, whole; the
        # latest closed ticket of the fingerprints with no unclosed one; node → the
        # master of its firing ticket; group key → its gathering master.
        self._records: dict[str, tuple[TicketRecord, bool]] = {}
        self._current: dict[str, StoredTicket] = {}
        self._closed: dict[str, StoredTicket] = {}
        self._firing: dict[str, str] = {}
        self._groups: dict[str, GroupMaster] = {}
        self._known_errors: list[KnownError] | None = None
        # The fingerprints this batch wrote for: their first decisions are stale.
        self._written: set[str] = set()

    async def run(self, alerts: Sequence[Alert]) -> IngestResult:
        tx, policy, now = self._tx, self._policy, self._tx.now
        fingerprints = {alert.fingerprint for alert in alerts}
        self._records = await correlation_queries.unclosed_records(tx, fingerprints)
        self._closed = await correlation_queries.latest_closed_many(
            tx, fingerprints - self._records.keys()
        )
        # What the decisions read, in bulk. An alert of a fingerprint with no ticket has
        # nothing to read but placement; the others are decided once on what is read so
        # far, to know whose whole rows the commands need (repeats need none). These first
        # decisions only plan reads: each command carried out is decided when its turn
        # comes, on the batch's view as it then is, unless it is a `NoChange` nothing in
        # the batch can have made stale.
        known = self._records.keys() | self._closed.keys()
        first = {
            index: decide(alert, self._snapshot(alert), now, policy)
            for index, alert in enumerate(alerts)
            if alert.fingerprint in known
        }
        self._current = await correlation_queries.unclosed_by_fingerprint(
            tx,
            {alerts[index].fingerprint for index, cmd in first.items() if _changes_a_ticket(cmd)},
        )
        # Placement of what creates a ticket: a firing alert of a fingerprint with none,
        # or one whose first decision creates.
        creating = [
            alert
            for index, alert in enumerate(alerts)
            if isinstance(first.get(index), CreateTicket)
            or (alert.firing and alert.fingerprint not in known)
        ]
        nodes = {alert.labels.get(policy.node_label, "") for alert in creating} - {""}
        ancestors = {parent for node in nodes for parent in policy.topology.ancestors(node)}
        self._firing = await correlation_queries.firing_masters(tx, nodes | ancestors)
        if policy.group_by:
            keys = {group_key(alert.labels, policy.group_by) for alert in creating}
            found = await correlation_queries.group_masters(tx, keys, now - policy.group_window)
            self._groups = {
                key: GroupMaster(ticket_id, opened, node)
                for key, (ticket_id, opened, node) in found.items()
            }
        for index, alert in enumerate(alerts):
            command = first.get(index)
            if (
                command is None
                or not isinstance(command, NoChange)
                or alert.fingerprint in self._written
            ):
                command = await self._decide(alert)
            await self._carry_out(alert.fingerprint, command)
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

    # -- the snapshot decisions read --

    def _snapshot(self, alert: Alert) -> Snapshot:
        fingerprint = alert.fingerprint
        tickets: list[TicketRecord] = []
        bookkeeping: Correlation | None = None
        stored = self._current.get(fingerprint)
        if stored is not None:
            tickets.append(TicketRecord.of(stored.ticket, firing=stored.correlation.firing))
            bookkeeping = stored.correlation
        elif fingerprint in self._records:
            tickets.append(self._records[fingerprint][0])
        closed = self._closed.get(fingerprint)
        if closed is not None and not tickets:
            tickets.append(TicketRecord.of(closed.ticket, firing=closed.correlation.firing))
            bookkeeping = closed.correlation
        # Placement reads the batch's own maps (read-only), each alert its own keys: no
        # work per alert that creates nothing.
        firing, groups = self._firing, self._groups
        if bookkeeping is None:
            return Snapshot(tuple(tickets), firing_masters=firing, groups=groups)
        return Snapshot(
            tuple(tickets),
            bookkeeping.alert_changes,
            bookkeeping.flapping,
            bookkeeping.notify,
            firing,
            groups,
        )

    async def _decide(self, alert: Alert) -> TicketCommand:
        """The command for `alert`, on a snapshot with the whole row of the ticket it
        changes (read now if the first decisions did not foresee it)."""
        command = decide(alert, self._snapshot(alert), self._tx.now, self._policy)
        fingerprint = alert.fingerprint
        if (
            _changes_a_ticket(command)
            and fingerprint in self._records
            and fingerprint not in self._current
        ):
            stored = await self._tx.get(self._records[fingerprint][0].id)
            if stored is not None:
                self._current[fingerprint] = stored
                command = decide(alert, self._snapshot(alert), self._tx.now, self._policy)
        return command

    # -- carrying commands out --

    async def _carry_out(self, fingerprint: str, command: TicketCommand) -> None:
        if not isinstance(command, NoChange):
            self._written.add(fingerprint)
        if isinstance(command, NoChange):
            self._result.counts["unchanged"] += 1
        elif isinstance(command, RecoverTicket):
            await self._recover(fingerprint, command)
        elif isinstance(command, UpdateTicket | ReopenTicket):
            await self._occurrence(fingerprint, command)
        else:
            await self._create(command)

    def _ticket_of(self, fingerprint: str, ticket_id: str) -> tuple[StoredTicket, bool]:
        """The whole row of the ticket of `fingerprint` a command names, and whether it is
        closed (the batch read it before deciding: `_decide`)."""
        for stored, closed in (
            (self._current.get(fingerprint), False),
            (self._closed.get(fingerprint), True),
        ):
            if stored is not None and stored.ticket.id == ticket_id:
                return stored, closed
        raise AssertionError(f"a command names ticket {ticket_id}, which the batch never read")

    async def _recover(self, fingerprint: str, command: RecoverTicket) -> None:
        stored, closed = self._ticket_of(fingerprint, command.ticket_id)
        correlation = dataclasses.replace(
            stored.correlation,
            firing=False,
            recovered_at=command.recovered_at,
            alert_changes=command.alert_changes,
            flapping=command.flapping,
        )
        await self._tx.update_correlation(command.ticket_id, correlation)
        recovered = dataclasses.replace(stored, correlation=correlation)
        if closed:
            self._closed[fingerprint] = recovered
        else:
            self._current[fingerprint] = recovered
            self._firing.pop(correlation.node, None)
        self._result.counts["recovered"] += 1

    async def _occurrence(self, fingerprint: str, command: UpdateTicket | ReopenTicket) -> None:
        stored, _ = self._ticket_of(fingerprint, command.ticket_id)
        ticket, events = stored.ticket, list[AuditEvent]()
        now = self._tx.now
        reopened = isinstance(command, ReopenTicket)
        if reopened:
            ticket, events = apply(ticket, Action.REJECT_RESOLUTION, actor=ACTOR, at=now)
            events = [dataclasses.replace(e, action="reopen") for e in events]
        ticket, counted = apply(
            ticket,
            Action.RECORD_OCCURRENCE,
            actor=ACTOR,
            at=max(command.last_seen, ticket.created_at),
        )
        ticket = dataclasses.replace(
            ticket, occurrences=command.occurrences, last_seen=command.last_seen
        )
        correlation = stored.correlation
        correlation = dataclasses.replace(
            correlation,
            firing=True,
            recovered_at=None,
            alert_changes=(
                correlation.alert_changes
                if command.alert_changes is None
                else command.alert_changes
            ),
            flapping=command.flapping,
        )
        await self._tx.save(ticket, events + counted, correlation)
        self._current[fingerprint] = StoredTicket(ticket, correlation, now)
        self._firing.setdefault(correlation.node, ticket.master_id or ticket.id)
        self._result.counts["reopened" if reopened else "updated"] += 1
        if isinstance(command, ReopenTicket) and command.notify and ticket.master_id is None:
            await self._tx.enqueue(
                NotificationEvent.REOPENED, ticket, detail=ticket.labels.get("reason", "")
            )

    async def _create(self, command: CreateTicket) -> None:
        tx, now = self._tx, self._tx.now
        if command.closes is not None:
            # The recurrence came after the reopen window: the resolution stands, and the
            # new ticket refers to the closed one (one unclosed ticket per fingerprint).
            resolved, _ = self._ticket_of(command.fingerprint, command.closes)
            closed, events = apply(
                resolved.ticket, Action.CLOSE, actor=ACTOR, at=now, reason=CloseReason.RESOLVED
            )
            await tx.save(closed, events)
        ticket = Ticket(
            id=new_ticket_id(),
            fingerprint=command.fingerprint,
            title=command.title,
            type=TicketType.INCIDENT,
            severity=command.severity,
            created_at=command.at,
            labels=dict(command.labels),
            master_id=command.master_id,
            refers_to=command.refers_to,
            last_seen=command.last_seen,
        )
        events = created(ticket, actor=ACTOR)
        if self._known_errors is None:
            self._known_errors = await tx.known_errors()
        ticket, attached = attach_known_error(ticket, self._known_errors, actor=ACTOR, at=now)
        correlation = Correlation.for_labels(
            ticket.labels,
            group_key=command.group_key,
            caused_by=command.caused_by,
            notify=command.notify,
            firing=True,
            flapping=command.flapping,
            alert_changes=(command.last_seen,),
            reporter=self._source,
        )
        await tx.insert(ticket, correlation, events + attached)
        self._current[command.fingerprint] = StoredTicket(ticket, correlation, now)
        self._firing.setdefault(correlation.node, ticket.master_id or ticket.id)
        if ticket.master_id is None and command.group_key is not None:
            self._groups[command.group_key] = GroupMaster(ticket.id, now, correlation.node)
        self._result.counts["created"] += 1
        self._result.created.append(ticket.id)
        if command.adopts:
            await self._adopt_dependants(ticket, correlation)
        if command.notify_at is not None:
            await tx.enqueue(NotificationEvent.CREATED, ticket, due_at=command.notify_at)

    async def _adopt_dependants(self, ticket: Ticket, correlation: Correlation) -> None:
        """A parent started failing after its dependants: their tickets (and whatever hangs
        under them) move under this ticket's master, and stop notifying on their own."""
        dependants = self._policy.topology.dependants(correlation.node)
        if not dependants:
            return
        masters = await correlation_queries.masters_at_nodes(self._tx, dependants)
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
        self._groups = {k: v for k, v in self._groups.items() if v.ticket_id not in moved_ids}
