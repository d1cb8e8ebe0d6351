"""The console's incident list and ticket page, and their posts: bulk actions, a
transition, a comment, a master link, a known error from a ticket, a retried delivery.

Every write goes through `TicketService` or `ticket_sink.outbound`, the same code the API
calls, attributed to the signed-in person's name; each post answers with a redirect back
(post/redirect/get). It must never write to the store itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import TypeAdapter, ValidationError

from ticket_sink.api import queries
from ticket_sink.api.knowledge import parse_matchers
from ticket_sink.api.knowledge_models import KnownErrorFromTicket
from ticket_sink.api.problems import Problem
from ticket_sink.api.ticket_models import PUBLIC_ACTIONS as API_PUBLIC_ACTIONS
from ticket_sink.api.ticket_models import CommentCreate, MasterLink, Transition
from ticket_sink.console import reads
from ticket_sink.console.frame import PageFrame
from ticket_sink.console.inputs import (
    CONSOLE_PREFIX,
    IDENTIFIER,
    Refusal,
    incident_query,
    invalid,
    matcher_lines,
    ticket_id_of,
    transition_fields,
)
from ticket_sink.console.present import (
    SEVERITY_NAMES,
    clock_views,
    pressing_clock,
    timeline,
    urgency,
)
from ticket_sink.console.session import Session
from ticket_sink.lifecycle import CLOSE_REASONS, Action, allowed_actions
from ticket_sink.model import EscalationLevel, Ticket, TicketState
from ticket_sink.outbound.outbox import retry_failed, ticket_notifications
from ticket_sink.service import NotFound, ServiceError, TicketService

__all__ = ["SILENCE_HOURS", "TicketPages"]

BULK_ACTIONS = ("acknowledge", "hold", "resolve")
MAX_BULK = 200
# The durations a silence may be set for, offered on the ticket and silences pages.
SILENCE_HOURS = (1, 4, 12, 24, 72, 168)
_TRANSITION = TypeAdapter(Transition)
# The console offers what the API lets people ask for.
PUBLIC_ACTIONS = frozenset(API_PUBLIC_ACTIONS)


class TicketPages:
    """The incidents and ticket handlers, over the console's `frame`."""

    def __init__(self, frame: PageFrame, service: TicketService) -> None:
        self.frame = frame
        self.settings = frame.settings
        self.api = frame.api
        self.service = service

    async def incidents(self, request: web.Request) -> web.StreamResponse:
        session, new = self.frame.require(request)
        view = incident_query(request.query, session)
        now = self.api.store.now()
        async with self.api.store.transaction(write=False) as tx:
            live_after = await queries.last_event_id(tx)
            found = await reads.incidents(
                tx, view.where, page=view.page, size=self.settings.page_size
            )
        policy = self.api.policy
        rows = []
        for master in found.masters:
            clock = pressing_clock(master, policy, now)
            children = []
            for child in found.children.get(master.id, []):
                child_clock = pressing_clock(child, policy, now)
                children.append((child, child_clock))
            children.sort(key=lambda pair: urgency(*pair))
            rows.append((master, clock, children, found.child_counts.get(master.id, 0)))
        rows.sort(key=lambda row: urgency(row[0], row[1]))
        response = self.frame.page(
            request,
            session,
            "incidents.html",
            page="incidents",
            rows=rows,
            found=found,
            view=view,
            states=[state.value for state in TicketState],
            severities=SEVERITY_NAMES,
            bulk_actions=BULK_ACTIONS,
            live_after=live_after,
        )
        self.frame.finish(response, session, new)
        return response

    async def bulk(self, request: web.Request) -> web.StreamResponse:
        session, form = await self.frame.form(request)
        action = form.get("action")
        ids = [value for value in form.getall("ids", []) if isinstance(value, str)]
        if action not in BULK_ACTIONS:
            return self.frame.back(form, CONSOLE_PREFIX + "/", "Choose an action.", error=True)
        if not ids:
            return self.frame.back(form, CONSOLE_PREFIX + "/", "Select tickets first.", error=True)
        if len(ids) > MAX_BULK:
            return self.frame.back(
                form, CONSOLE_PREFIX + "/", f"At most {MAX_BULK} at once.", error=True
            )
        try:
            request_body = _TRANSITION.validate_python(transition_fields(form, str(action)))
        except ValidationError as exc:
            return self.frame.back(form, CONSOLE_PREFIX + "/", invalid(exc), error=True)
        done, refused = [], []
        for ticket_id in ids:
            try:
                await self._apply(ticket_id, request_body, session)
                done.append(ticket_id)
            except ServiceError as exc:
                refused.append(f"{ticket_id}: {exc.detail}")
        message = f"{action}: {len(done)} done"
        if refused:
            message += f", {len(refused)} refused ({'; '.join(refused[:3])})"
        return self.frame.back(form, CONSOLE_PREFIX + "/", message, error=bool(refused))

    async def ticket(self, request: web.Request) -> web.StreamResponse:
        session, new = self.frame.require(request)
        ticket_id = ticket_id_of(request)
        store = self.api.store
        async with store.transaction(write=False) as tx:
            live_after = await queries.last_event_id(tx)
            stored = await tx.get(ticket_id)
            if stored is None:
                raise Refusal(404, f"No ticket {ticket_id}.")
            ticket = stored.ticket
            clocked, more_children = await reads.children_of(tx, ticket.id)
            master = None if ticket.master_id is None else await tx.get(ticket.master_id)
            history = await queries.history_of(tx, ticket.id, newest=200)
            notes = await queries.comments_of(tx, ticket.id)
            recurrences = await reads.recurrences(tx, ticket)
            similar = await reads.similar_tickets(tx, ticket)
        notifications = await ticket_notifications(store, ticket.id)
        now = store.now()
        events = timeline(history, notes, notifications)
        policy = self.api.policy
        children_rows = sorted(
            ((child, pressing_clock(child, policy, now)) for child in clocked),
            key=lambda pair: urgency(*pair),
        )
        actions = [
            action.value
            for action in allowed_actions(ticket.state)
            if action.value in PUBLIC_ACTIONS
        ]
        response = self.frame.page(
            request,
            session,
            "ticket.html",
            page="ticket",
            ticket=ticket,
            clocks=clock_views(ticket, policy, now),
            contacts=policy.contacts.get(ticket.escalation_level, ()),
            children=children_rows,
            more_children=more_children,
            master=None if master is None else master.ticket,
            timeline=events,
            recurrences=recurrences,
            similar=similar,
            actions=actions,
            close_reasons=sorted(reason.value for reason in CLOSE_REASONS.get(ticket.state, ())),
            levels=[int(level) for level in EscalationLevel],
            severities=SEVERITY_NAMES,
            silence_hours=SILENCE_HOURS,
            live_after=live_after,
        )
        self.frame.finish(response, session, new)
        return response

    async def _apply(self, ticket_id: str, body: Any, session: Session) -> Ticket:
        return await self.service.transition(
            ticket_id,
            Action(body.action),
            actor=session.name,
            **body.arguments(),
        )

    async def _ticket_post(
        self,
        request: web.Request,
        change: Callable[[str, Session, MultiDictProxy[Any]], Awaitable[str]],
        *,
        admin: bool = False,
    ) -> web.StreamResponse:
        """A post about one ticket: checked, `change` made, and back to the ticket's page
        with what happened (or why not: a refusal is a message, a missing ticket a 404)."""
        ticket_id = ticket_id_of(request)
        session, form = await self.frame.form(request, admin=admin)
        here = f"{CONSOLE_PREFIX}/tickets/{ticket_id}"
        try:
            message = await change(ticket_id, session, form)
        except NotFound as exc:
            raise Refusal(404, exc.detail) from None
        except (ValidationError, ValueError) as exc:
            return self.frame.back(form, here, invalid(exc), error=True)
        except (Problem, ServiceError) as exc:
            return self.frame.back(form, here, exc.detail, error=True)
        return self.frame.back(form, here, message)

    async def transition(self, request: web.Request) -> web.StreamResponse:
        async def change(ticket_id: str, session: Session, form: MultiDictProxy[Any]) -> str:
            action = form.get("action")
            if not isinstance(action, str) or action not in PUBLIC_ACTIONS:
                raise ValueError("Choose an action.")
            body = _TRANSITION.validate_python(transition_fields(form, action))
            ticket = await self._apply(ticket_id, body, session)
            return f"{ticket.id}: {action} done, now {ticket.state}."

        return await self._ticket_post(request, change)

    async def comment(self, request: web.Request) -> web.StreamResponse:
        async def change(ticket_id: str, session: Session, form: MultiDictProxy[Any]) -> str:
            body = CommentCreate.model_validate({"text": form.get("text", "")})
            await self.service.comment(ticket_id, body.text, actor=session.name)
            return "Comment added."

        return await self._ticket_post(request, change)

    async def link(self, request: web.Request) -> web.StreamResponse:
        async def change(ticket_id: str, session: Session, form: MultiDictProxy[Any]) -> str:
            master_id = str(form.get("master_id", "")).strip()
            body = MasterLink.model_validate({"master_id": master_id})
            await self.service.link(ticket_id, body.master_id, actor=session.name)
            return f"Now under {body.master_id}."

        return await self._ticket_post(request, change)

    async def detach(self, request: web.Request) -> web.StreamResponse:
        async def change(ticket_id: str, session: Session, form: MultiDictProxy[Any]) -> str:
            await self.service.detach(ticket_id, actor=session.name)
            return "Detached from its master."

        return await self._ticket_post(request, change)

    async def known_error(self, request: web.Request) -> web.StreamResponse:
        async def change(ticket_id: str, session: Session, form: MultiDictProxy[Any]) -> str:
            given = matcher_lines(form.getall("matcher", []))
            body = KnownErrorFromTicket.model_validate(
                {"matchers": given, "from_ticket": ticket_id}
            )
            entry, _ = await self.service.add_known_error(
                parse_matchers(body.matchers), actor=session.name, from_ticket=ticket_id
            )
            return f"Recorded as known error {entry.id}."

        return await self._ticket_post(request, change, admin=True)

    async def retry(self, request: web.Request) -> web.StreamResponse:
        notification_id = request.match_info["notification_id"]

        async def change(ticket_id: str, session: Session, form: MultiDictProxy[Any]) -> str:
            if not IDENTIFIER.fullmatch(notification_id):
                raise NotFound(f"no notification {notification_id}")
            async with self.api.store.transaction(write=True) as tx:
                retried = await retry_failed(tx, ticket_id, notification_id, actor=session.name)
            if retried is None:
                raise NotFound(f"no notification {notification_id} of ticket {ticket_id}")
            if not retried:
                raise ValueError("None of its deliveries failed: nothing to retry.")
            return f"Sent again to {', '.join(retried)}."

        return await self._ticket_post(request, change)
