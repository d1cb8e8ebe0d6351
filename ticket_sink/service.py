"""The one service layer for people's and assistants' writes: the API, the console and MCP
all change tickets and known errors through `TicketService`, never through the store.

Each method is one store transaction that reads, asks `lifecycle` for the change, and saves
the new ticket with its audit events (attributed to `actor`, the caller's token name) and
any notification in the same commit. Refusals come back as `NotFound` or `Refused`, which
each interface answers in its own way (a problem document, a page's message). It must never
decide a transition itself, never know about HTTP, and never write anything without an
audit event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Unpack

from ticket_sink.lifecycle import (
    Action,
    TransitionArguments,
    TransitionError,
    apply,
    attach_known_error,
    check_resolvable,
    comment,
    created,
    known_error_from,
    resolve_children,
)
from ticket_sink.model import (
    AuditEvent,
    Comment,
    KnownError,
    Matcher,
    NotificationEvent,
    Severity,
    Ticket,
    TicketState,
    TicketType,
)
from ticket_sink.store import Store
from ticket_sink.ticket_rows import Correlation, StoredTicket, new_ticket_id
from ticket_sink.tickets import TicketTx
from vocab.errors import InputError

__all__ = ["NotFound", "Refused", "ServiceError", "TicketService"]


class ServiceError(InputError):
    """A change the service layer refused; the message says why, for a person."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field  # the input at fault, if one is


class NotFound(ServiceError):
    """The ticket the change is about does not exist."""


class Refused(ServiceError):
    """The lifecycle (or a rule of links and known errors) refuses the change now."""


def _not_found(ticket_id: str) -> NotFound:
    return NotFound(f"no ticket {ticket_id}")


async def _get(tx: TicketTx, ticket_id: str, *, lock: bool = False) -> StoredTicket:
    if lock and not await tx.lock(ticket_id):
        raise _not_found(ticket_id)
    stored = await tx.get(ticket_id)
    if stored is None:
        raise _not_found(ticket_id)
    return stored


async def _firing(tx: TicketTx, stored: StoredTicket) -> list[str]:
    """The ids of `stored` and of the tickets under it whose alert fires now."""
    firing = [stored.ticket.id] if stored.correlation.firing else []
    if stored.ticket.master_id is None:
        children = await tx.children(stored.ticket.id)
        firing += [child.ticket.id for child in children if child.correlation.firing]
    return firing


class TicketService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(
        self,
        *,
        title: str,
        description: str,
        type: TicketType,
        severity: Severity,
        labels: Mapping[str, str],
        assignee_group: str,
        reporter: str | None,
        actor: str,
    ) -> Ticket:
        """Register a reported ticket (with its description as the first comment)."""
        async with self.store.transaction(write=True) as tx:
            ticket = Ticket(
                id=new_ticket_id(),
                fingerprint="",
                title=title,
                type=type,
                severity=severity,
                created_at=tx.now,
                labels=dict(labels),
                assignee_group=assignee_group,
            )
            events = created(ticket, actor=actor)
            ticket, attached = attach_known_error(
                ticket, await tx.known_errors(), actor=actor, at=tx.now
            )
            correlation = Correlation.for_labels(ticket.labels, reporter=reporter or actor)
            await tx.insert(ticket, correlation, [*events, *attached])
            note, noted = comment(ticket, author=actor, at=tx.now, text=description)
            await tx.add_comment(note, noted)
            await tx.enqueue(NotificationEvent.CREATED, ticket)
        return ticket

    async def transition(
        self,
        ticket_id: str,
        action: Action,
        *,
        actor: str,
        **arguments: Unpack[TransitionArguments],
    ) -> Ticket:
        """Do `action` to the ticket, and what it implies (children, notifications);
        `arguments` as `lifecycle.apply` takes them."""
        async with self.store.transaction(write=True) as tx:
            stored = await _get(tx, ticket_id, lock=True)
            try:
                if action is Action.RESOLVE:
                    check_resolvable(stored.ticket, await _firing(tx, stored))
                ticket, events = apply(
                    stored.ticket,
                    action,
                    actor=actor,
                    at=tx.now,
                    **arguments,
                )
            except TransitionError as exc:
                raise Refused(str(exc)) from None
            await tx.save(ticket, events)
            await self._follow_up(tx, stored, ticket, action, actor)
        return ticket

    async def _follow_up(
        self, tx: TicketTx, stored: StoredTicket, ticket: Ticket, action: Action, actor: str
    ) -> None:
        """What a transition implies beyond the ticket: its children, and who is told."""
        if action is Action.RESOLVE:
            # A master's resolution answers its children too (DESIGN.md, "Tickets").
            children = [child.ticket for child in await tx.children(ticket.id)]
            for child, events in resolve_children(ticket, children, actor=actor, at=tx.now):
                await tx.save(child, events)
        if not stored.correlation.notify:
            return  # a ticket under a master is told through its master
        if action is Action.RESOLVE:
            await tx.enqueue(NotificationEvent.RESOLVED, ticket)
        elif action is Action.ESCALATE:
            detail = f"escalated to level {int(ticket.escalation_level)}"
            await tx.enqueue(NotificationEvent.ESCALATED, ticket, detail=detail)

    async def comment(self, ticket_id: str, text: str, *, actor: str) -> Comment:
        async with self.store.transaction(write=True) as tx:
            ticket = (await _get(tx, ticket_id, lock=True)).ticket
            note, event = comment(ticket, author=actor, at=tx.now, text=text)
            await tx.add_comment(note, event)
        return note

    async def link(self, ticket_id: str, master_id: str, *, actor: str) -> Ticket:
        """Hang the ticket (and its own children) under `master_id`."""
        if master_id == ticket_id:
            raise Refused("a ticket cannot be its own master", field="master_id")
        async with self.store.transaction(write=True) as tx:
            stored = await _get(tx, ticket_id, lock=True)
            master = await tx.get(master_id)
            if master is None:
                # Refused, not NotFound: the ticket exists; the master it names does not.
                raise Refused(f"no ticket {master_id} to link under", field="master_id")
            _check_linkable(stored.ticket, master.ticket)
            if stored.ticket.master_id == master.ticket.id:
                return stored.ticket
            moved = await tx.link([stored], master.ticket.id, caused_by=None, actor=actor)
        return next((m.ticket for m in moved if m.ticket.id == ticket_id), stored.ticket)

    async def detach(self, ticket_id: str, *, actor: str) -> Ticket:
        """Detach the ticket from its master: it notifies on its own again."""
        async with self.store.transaction(write=True) as tx:
            stored = await _get(tx, ticket_id, lock=True)
            ticket = stored.ticket
            if ticket.master_id is None:
                return ticket
            if ticket.state is TicketState.CLOSED:
                raise Refused(f"ticket {ticket.id} is closed: closed is final")
            detached = dataclasses.replace(ticket, master_id=None)
            correlation = dataclasses.replace(stored.correlation, notify=True, caused_by=None)
            event = AuditEvent(
                ticket.id, actor, tx.now, "detach", "master_id", ticket.master_id, None
            )
            await tx.save(detached, [event], correlation)
        return detached

    async def add_known_error(
        self,
        matchers: Sequence[Matcher],
        *,
        actor: str,
        workaround: str | None = None,
        from_ticket: str | None = None,
    ) -> tuple[KnownError, datetime]:
        """Record an entry (its workaround given, or `from_ticket`'s resolution) and attach
        it to the matching tickets being worked; the entry and when it was recorded."""
        entry_id = "K" + new_ticket_id()[1:]
        async with self.store.transaction(write=True) as tx:
            if from_ticket is not None:
                stored = await tx.get(from_ticket)
                if stored is None:
                    raise Refused(f"no ticket {from_ticket}", field="from_ticket")
                try:
                    entry = known_error_from(stored.ticket, id=entry_id, matchers=matchers)
                except TransitionError as exc:
                    raise Refused(str(exc), field="from_ticket") from None
            elif workaround is not None:
                entry = KnownError(entry_id, tuple(matchers), workaround)
            else:
                raise Refused("a known error needs a workaround or a ticket", field="workaround")
            await tx.add_known_error(entry, actor=actor)
            now = tx.now
            # The tickets already being worked that match get the workaround too.
            for stored in await tx.worked_without_known_error():
                ticket, events = attach_known_error(stored.ticket, [entry], actor=actor, at=now)
                if events:
                    await tx.save(ticket, events)
        return entry, now


def _check_linkable(ticket: Ticket, master: Ticket) -> None:
    if ticket.state is TicketState.CLOSED:
        raise Refused(f"ticket {ticket.id} is closed: closed is final")
    if master.state is TicketState.CLOSED:
        raise Refused(f"master ticket {master.id} is closed: link under an open ticket")
    if master.master_id is not None:
        raise Refused(
            f"ticket {master.id} hangs under {master.master_id}: link under {master.master_id}"
        )
