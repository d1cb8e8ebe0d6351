"""Ticket endpoints: list, detail, report, transitions, comments, master links.

Each handler is one store transaction that reads, asks `lifecycle` for the change, and
saves the new ticket with its audit events (attributed to the caller's token name) and
any notification in the same commit; the detail reads only when its cached copy may be
out of date (see `detail`). Handlers must never change a ticket other than through
`lifecycle` or `TicketTx.link`, and never decide a transition themselves.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from ticket_sink.api import queries
from ticket_sink.api.detail import DetailCache, EncodedDetail, encode_detail
from ticket_sink.api.framework import Call, encoded_json_response, json_response
from ticket_sink.api.models import (
    CommentCreate,
    Escalate,
    MasterLink,
    TicketCreate,
    TicketListQuery,
)
from ticket_sink.api.problems import Problem
from ticket_sink.api.settings import ApiSettings
from ticket_sink.api.views import comment_view, event_view
from ticket_sink.codec import ticket_to_dict
from ticket_sink.lifecycle import (
    Action,
    TransitionError,
    apply,
    attach_known_error,
    comment,
    created,
    resolve_children,
)
from ticket_sink.model import AuditEvent, NotificationEvent, Ticket, TicketState
from ticket_sink.tickets import Correlation, StoredTicket, TicketTx, new_ticket_id

__all__ = ["TicketHandlers"]

HISTORY_IN_DETAIL = 200


def _not_found(ticket_id: str) -> Problem:
    return Problem(404, f"no ticket {ticket_id}", kind="not-found")


def _refused(detail: str, field: str | None = None) -> Problem:
    return Problem(409, detail, field=field, kind="refused")


async def _get(tx: TicketTx, ticket_id: str, *, lock: bool = False) -> StoredTicket:
    if lock and not await queries.lock_ticket(tx, ticket_id):
        raise _not_found(ticket_id)
    stored = await tx.get(ticket_id)
    if stored is None:
        raise _not_found(ticket_id)
    return stored


def _filter(query: TicketListQuery) -> queries.TicketFilter:
    matchers = []
    for index, text in enumerate(query.label):
        try:
            matchers.append(queries.parse_matcher(text))
        except ValueError as exc:
            raise Problem(400, str(exc), field=f"label[{index}]", kind="invalid-input") from None
    return queries.TicketFilter(
        states=[state.value for state in query.state],
        severities=[int(severity) for severity in query.severity],
        types=[kind.value for kind in query.type],
        matchers=matchers,
        master=query.master,
        updated_since=query.updated_since,
        text=query.text,
    )


class TicketHandlers:
    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.store = settings.store
        self.details = DetailCache()

    async def list(self, call: Call) -> web.Response:
        query: TicketListQuery = call.query
        where = _filter(query)
        async with self.store.transaction(write=False) as tx:
            try:
                page, cursor = await queries.list_tickets(
                    tx, where, limit=query.limit, cursor=query.cursor
                )
            except queries.CursorError as exc:
                raise Problem(400, str(exc), field="cursor", kind="invalid-input") from None
        return json_response(
            {"items": [ticket_to_dict(ticket) for ticket in page], "next_cursor": cursor}
        )

    async def detail(self, call: Call) -> web.Response:
        """The cached detail while the store's data version is the one it was read under
        (none is cached without a version); the SLA clocks are always computed anew."""
        ticket_id = call.param("id")
        version = self.store.data_version()  # before the reads it vouches for
        detail = self.details.get(ticket_id, version)
        if detail is None:
            detail = await self._read_detail(ticket_id)
            self.details.put(ticket_id, version, detail)
        return encoded_json_response(detail.body(self.store.now))

    async def _read_detail(self, ticket_id: str) -> EncodedDetail:
        async with self.store.transaction(write=False) as tx:
            ticket = (await _get(tx, ticket_id)).ticket
            children = await tx.children(ticket_id, unclosed_only=False)
            history = await queries.history_of(tx, ticket_id, newest=HISTORY_IN_DETAIL)
            notes = await queries.comments_of(tx, ticket_id)
        return encode_detail(
            ticket,
            children=[child.ticket for child in children],
            history=[event_view(event_id, event) for event_id, event in history],
            comments=notes,
            policy=self.settings.policy,
        )

    async def create(self, call: Call) -> web.Response:
        form: TicketCreate = call.body
        async with self.store.transaction(write=True) as tx:
            ticket = Ticket(
                id=new_ticket_id(),
                fingerprint="",
                title=form.title,
                type=form.type,
                severity=form.severity,
                created_at=tx.now,
                labels=dict(form.labels),
                assignee_group=form.assignee_group,
            )
            events = created(ticket, actor=call.actor)
            ticket, attached = attach_known_error(
                ticket, await tx.known_errors(), actor=call.actor, at=tx.now
            )
            correlation = Correlation.for_labels(
                ticket.labels, reporter=form.reporter or call.actor
            )
            await tx.insert(ticket, correlation, [*events, *attached])
            note, noted = comment(ticket, author=call.actor, at=tx.now, text=form.description)
            await tx.add_comment(note, noted)
            await tx.enqueue(NotificationEvent.CREATED, ticket)
        response = json_response(ticket_to_dict(ticket), status=201)
        response.headers["Location"] = f"{call.request.path}/{ticket.id}"
        return response

    async def transition(self, call: Call) -> web.Response:
        ticket_id = call.param("id")
        request: Any = call.body
        action = Action(request.action)
        async with self.store.transaction(write=True) as tx:
            stored = await _get(tx, ticket_id, lock=True)
            try:
                ticket, events = apply(
                    stored.ticket,
                    action,
                    actor=call.actor,
                    at=tx.now,
                    resolution=getattr(request, "resolution", None),
                    reason=getattr(request, "reason", None),
                    group=getattr(request, "group", None),
                    level=request.level if isinstance(request, Escalate) else None,
                )
            except TransitionError as exc:
                raise _refused(str(exc)) from None
            await tx.save(ticket, events)
            await self._follow_up(tx, stored, ticket, action, call.actor)
        return json_response(ticket_to_dict(ticket))

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

    async def add_comment(self, call: Call) -> web.Response:
        body: CommentCreate = call.body
        async with self.store.transaction(write=True) as tx:
            ticket = (await _get(tx, call.param("id"), lock=True)).ticket
            note, event = comment(ticket, author=call.actor, at=tx.now, text=body.text)
            await tx.add_comment(note, event)
        return json_response(comment_view(note), status=201)

    async def link(self, call: Call) -> web.Response:
        body: MasterLink = call.body
        ticket_id = call.param("id")
        if body.master_id == ticket_id:
            raise Problem(
                409, "a ticket cannot be its own master", field="master_id", kind="refused"
            )
        async with self.store.transaction(write=True) as tx:
            stored = await _get(tx, ticket_id, lock=True)
            master = await tx.get(body.master_id)
            if master is None:
                # 409, not 404: the path's ticket exists; the body refers to a missing one.
                raise _refused(f"no ticket {body.master_id} to link under", field="master_id")
            _check_linkable(stored.ticket, master.ticket)
            if stored.ticket.master_id == master.ticket.id:
                return json_response(ticket_to_dict(stored.ticket))
            moved = await tx.link([stored], master.ticket.id, caused_by=None, actor=call.actor)
        ticket = next((m.ticket for m in moved if m.ticket.id == ticket_id), stored.ticket)
        return json_response(ticket_to_dict(ticket))

    async def detach(self, call: Call) -> web.Response:
        async with self.store.transaction(write=True) as tx:
            stored = await _get(tx, call.param("id"), lock=True)
            ticket = stored.ticket
            if ticket.master_id is None:
                return json_response(ticket_to_dict(ticket))
            if ticket.state is TicketState.CLOSED:
                raise _refused(f"ticket {ticket.id} is closed: closed is final")
            detached = dataclasses.replace(ticket, master_id=None)
            # On its own again, it notifies for itself again.
            correlation = dataclasses.replace(stored.correlation, notify=True, caused_by=None)
            event = AuditEvent(
                ticket.id, call.actor, tx.now, "detach", "master_id", ticket.master_id, None
            )
            await tx.save(detached, [event], correlation)
        return json_response(ticket_to_dict(detached))


def _check_linkable(ticket: Ticket, master: Ticket) -> None:
    if ticket.state is TicketState.CLOSED:
        raise _refused(f"ticket {ticket.id} is closed: closed is final")
    if master.state is TicketState.CLOSED:
        raise _refused(f"master ticket {master.id} is closed: link under an open ticket")
    if master.master_id is not None:
        raise _refused(
            f"ticket {master.id} hangs under {master.master_id}: link under {master.master_id}"
        )
