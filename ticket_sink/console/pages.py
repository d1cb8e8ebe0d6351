"""The console's pages and form posts: incidents, a ticket, silences, known errors, checks,
a participant's diagnosis, sign-in and sign-out, and the live event stream.

Every write goes through `TicketService` (tickets, known errors) or `ticket_sink.outbound`
(silences, retried deliveries), the same code the API calls, attributed to the signed-in
person's name. Each post is a plain form post that answers with a redirect
(post/redirect/get), so every action works without JavaScript; the script only posts the
same forms in the background. This module must never write to the store itself, never
let a post through without its session's CSRF token and the role its action needs, and
never answer 500 for anything a client sends.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web
from multidict import MultiDictProxy
from pydantic import TypeAdapter, ValidationError

from ticket_sink.api import queries
from ticket_sink.api.auth import Principal
from ticket_sink.api.event_models import EventQuery
from ticket_sink.api.events import stream_events
from ticket_sink.api.framework import Call
from ticket_sink.api.knowledge import parse_matchers
from ticket_sink.api.knowledge_models import KnownErrorFromTicket
from ticket_sink.api.notice_models import SilenceCreate
from ticket_sink.api.problems import Problem
from ticket_sink.api.ticket_models import CommentCreate, MasterLink, Transition
from ticket_sink.console import reads
from ticket_sink.console.inputs import (
    CONSOLE_PREFIX,
    IDENTIFIER,
    Refusal,
    incident_query,
    invalid,
    matcher_lines,
    next_of,
    read_form,
    redirect,
    safe_next,
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
from ticket_sink.console.render import Renderer
from ticket_sink.console.session import Session, Sessions
from ticket_sink.console.settings import ConsoleSettings
from ticket_sink.lifecycle import CLOSE_REASONS, Action, allowed_actions
from ticket_sink.model import EscalationLevel, Ticket, TicketState
from ticket_sink.outbound.outbox import retry_failed, ticket_notifications
from ticket_sink.outbound.silences import create_silence, expire_silence, list_silences
from ticket_sink.service import NotFound, ServiceError, TicketService
from ticket_sink.store import StoreError

__all__ = ["CONSOLE_PREFIX", "Console"]

log = structlog.get_logger("ticket_sink.console")

BULK_ACTIONS = ("acknowledge", "hold", "resolve")
MAX_BULK = 200
SILENCE_HOURS = (1, 4, 12, 24, 72, 168)
_TRANSITION = TypeAdapter(Transition)
DIAGNOSIS = "diagnoseParticipant"  # the API operation the participant page runs
PUBLIC_ACTIONS = frozenset(
    {"acknowledge", "start", "hold", "resume", "resolve", "reject_resolution", "close"}
    | {"escalate", "reassign"}
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class _ParamCall(Call):
    """A call whose path parameters come from the console's form, not from its URL."""

    params: Mapping[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str:
        return self.params[name]


class Console:
    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.api = settings.api
        self.sessions = Sessions(settings)
        self.service = TicketService(settings.api.store)
        self.render = Renderer()
        # The API's participant diagnosis, when the application provides one.
        self.diagnosis = next(
            (op for op in settings.api.extra_operations if op.operation_id == DIAGNOSIS), None
        )
        self.render.globals["diagnosis"] = self.diagnosis is not None

    # -- plumbing --

    def routes(self) -> list[tuple[str, str, Handler]]:
        p = CONSOLE_PREFIX
        return [
            ("GET", p, self.to_incidents),
            ("GET", p + "/", self.incidents),
            ("GET", p + "/login", self.login_form),
            ("POST", p + "/login", self.login),
            ("POST", p + "/logout", self.logout),
            ("GET", p + "/tickets/{id}", self.ticket),
            ("POST", p + "/tickets/{id}/transition", self.transition),
            ("POST", p + "/tickets/{id}/comment", self.comment),
            ("POST", p + "/tickets/{id}/link", self.link),
            ("POST", p + "/tickets/{id}/detach", self.detach),
            ("POST", p + "/tickets/{id}/known-error", self.known_error),
            ("POST", p + "/tickets/{id}/notifications/{notification_id}/retry", self.retry),
            ("POST", p + "/bulk", self.bulk),
            ("GET", p + "/silences", self.silences),
            ("POST", p + "/silences", self.add_silence),
            ("POST", p + "/silences/{id}/expire", self.end_silence),
            ("GET", p + "/known-errors", self.known_errors),
            ("GET", p + "/checks", self.checks),
            ("GET", p + "/participants", self.participant),
            ("GET", p + "/events", self.events),
            ("GET", p + "/static/{name}", self.render.asset),
        ]

    def guarded(self, handler: Handler) -> Handler:
        """`handler` with the console's headers, and its refusals and failures answered
        as pages (a store outage is 503; a bug of ours 500, logged)."""

        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                response = await handler(request)
            except Refusal as exc:
                response = self._error(request, exc.status, exc.message)
            except StoreError as exc:
                log.warning("console_store_error", path=request.path, error=str(exc))
                response = self._error(request, 503, "The ticket store is unavailable.")
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                response = self._error(request, exc.status, exc.reason)
            except Exception:
                log.exception("console_internal_error", path=request.path)
                response = self._error(request, 500, "Internal error (logged by the agent).")
            if not response.prepared:
                self.render.secure(response)
            return response

        return handle

    async def unrouted(self, request: web.Request) -> web.StreamResponse:
        return self._error(request, 404, "No such page.")

    def _error(self, request: web.Request, status: int, message: str) -> web.Response:
        session, _ = self.sessions.current(request)
        response = self._page(request, session, "error.html", status=status, message=message)
        self.render.secure(response)
        return response

    def _page(
        self,
        request: web.Request,
        session: Session | None,
        template: str,
        *,
        status: int = 200,
        page: str = "",
        **context: Any,
    ) -> web.Response:
        response = web.Response(status=status, content_type="text/html", charset="utf-8")
        flash = self.sessions.take_flash(request, response)
        response.text = self.render.page(
            template,
            session=session,
            flash=flash,
            page=page,
            here=request.path_qs,
            **context,
        )
        return response

    def _require(self, request: web.Request) -> tuple[Session, bool]:
        session, new = self.sessions.current(request)
        if session is None:
            raise web.HTTPSeeOther(
                f"{CONSOLE_PREFIX}/login?" + urlencode({"next": next_of(request)})
            )
        return session, new

    def _finish(self, response: web.StreamResponse, session: Session, new: bool) -> None:
        if new:
            self.sessions.set_cookie(response, session)

    async def _form(self, request: web.Request, *, admin: bool = False) -> tuple[Session, Any]:
        """The post's session and fields, once its CSRF token and role are checked."""
        session, _ = self.sessions.current(request)
        form = await read_form(request)
        if session is None:
            raise Refusal(403, "Sign in first: this session has ended.")
        if not self.sessions.csrf_ok(session, form.get("csrf")):
            raise Refusal(403, "The form's security token is missing or stale: reload the page.")
        if not (session.admin if admin else session.responder):
            needed = "admin" if admin else "responder"
            raise Refusal(403, f"{session.name} is a {session.role}; this needs a {needed}.")
        return session, form

    def _back(
        self, form: MultiDictProxy[Any], default: str, message: str, *, error: bool = False
    ) -> web.Response:
        given = form.get("return_to")
        response = redirect(given if safe_next(given) == given else default)
        self.sessions.set_flash(response, message, error=error)
        return response

    # -- signing in and out --

    async def to_incidents(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": CONSOLE_PREFIX + "/"})

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        session, new = self.sessions.current(request)
        if session is not None:
            response: web.StreamResponse = redirect(safe_next(request.query.get("next")))
            self._finish(response, session, new)
            return response
        return self._page(
            request, None, "login.html", page="login", next=safe_next(request.query.get("next"))
        )

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await read_form(request)
        token = form.get("token")
        target = safe_next(form.get("next"))
        session = None
        if isinstance(token, str) and 0 < len(token) <= 1000:
            session = self.sessions.sign_in(token.strip())
        if session is None:
            log.info("console_sign_in_refused", peer=request.remote)
            return self._page(
                request,
                None,
                "login.html",
                status=401,
                page="login",
                next=target,
                failed="That token is not valid for the console.",
            )
        log.info("console_signed_in", name=session.name, role=str(session.role))
        response = redirect(target)
        self.sessions.set_cookie(response, session)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        session, _ = self.sessions.current(request)
        form = await read_form(request)
        if session is not None and not self.sessions.csrf_ok(session, form.get("csrf")):
            raise Refusal(403, "The form's security token is missing or stale: reload the page.")
        response = redirect(CONSOLE_PREFIX + "/login")
        self.sessions.clear_cookie(response)
        return response

    # -- incidents --

    async def incidents(self, request: web.Request) -> web.StreamResponse:
        session, new = self._require(request)
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
        response = self._page(
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
        self._finish(response, session, new)
        return response

    async def bulk(self, request: web.Request) -> web.StreamResponse:
        session, form = await self._form(request)
        action = form.get("action")
        ids = [value for value in form.getall("ids", []) if isinstance(value, str)]
        if action not in BULK_ACTIONS:
            return self._back(form, CONSOLE_PREFIX + "/", "Choose an action.", error=True)
        if not ids:
            return self._back(form, CONSOLE_PREFIX + "/", "Select tickets first.", error=True)
        if len(ids) > MAX_BULK:
            return self._back(
                form, CONSOLE_PREFIX + "/", f"At most {MAX_BULK} at once.", error=True
            )
        try:
            request_body = _TRANSITION.validate_python(transition_fields(form, str(action)))
        except ValidationError as exc:
            return self._back(form, CONSOLE_PREFIX + "/", invalid(exc), error=True)
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
        return self._back(form, CONSOLE_PREFIX + "/", message, error=bool(refused))

    # -- a ticket --

    async def ticket(self, request: web.Request) -> web.StreamResponse:
        session, new = self._require(request)
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
        response = self._page(
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
        self._finish(response, session, new)
        return response

    async def _apply(self, ticket_id: str, body: Any, session: Session) -> Ticket:
        return await self.service.transition(
            ticket_id,
            Action(body.action),
            actor=session.name,
            resolution=getattr(body, "resolution", None),
            reason=getattr(body, "reason", None),
            group=getattr(body, "group", None),
            level=getattr(body, "level", None),
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
        session, form = await self._form(request, admin=admin)
        here = f"{CONSOLE_PREFIX}/tickets/{ticket_id}"
        try:
            message = await change(ticket_id, session, form)
        except NotFound as exc:
            raise Refusal(404, exc.detail) from None
        except (ValidationError, ValueError) as exc:
            return self._back(form, here, invalid(exc), error=True)
        except (Problem, ServiceError) as exc:
            return self._back(form, here, exc.detail, error=True)
        return self._back(form, here, message)

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

    # -- silences, known errors, checks --

    async def silences(self, request: web.Request) -> web.StreamResponse:
        session, new = self._require(request)
        include_expired = request.query.get("expired") == "1"
        found = await list_silences(self.api.store, include_expired=include_expired)
        now = self.api.store.now()
        prefill = request.query.getall("matcher", [])[:32]
        response = self._page(
            request,
            session,
            "silences.html",
            page="silences",
            silences=found,
            now=now,
            include_expired=include_expired,
            prefill="\n".join(line[:1100] for line in prefill),
            silence_hours=SILENCE_HOURS,
        )
        self._finish(response, session, new)
        return response

    async def add_silence(self, request: web.Request) -> web.StreamResponse:
        session, form = await self._form(request)
        here = CONSOLE_PREFIX + "/silences"
        lines = str(form.get("matchers", "")).splitlines()
        try:
            hours = int(str(form.get("hours", "")))
            if hours not in SILENCE_HOURS:
                raise ValueError("choose one of the durations offered")
            ends_at = self.api.store.now() + timedelta(hours=hours)
            body = SilenceCreate.model_validate(
                {
                    "matchers": matcher_lines(lines),
                    "ends_at": ends_at,
                    "comment": str(form.get("comment", ""))[:2000],
                }
            )
            silence = await create_silence(
                self.api.store,
                parse_matchers(body.matchers),
                ends_at=body.ends_at,
                created_by=session.name,
                comment=body.comment,
            )
        except (ValidationError, ValueError) as exc:
            return self._back(form, here, invalid(exc), error=True)
        except Problem as exc:
            return self._back(form, here, exc.detail, error=True)
        return self._back(form, here, f"Silence {silence.id} holds notifications for {hours}h.")

    async def end_silence(self, request: web.Request) -> web.StreamResponse:
        silence_id = request.match_info["id"]
        _, form = await self._form(request)
        here = CONSOLE_PREFIX + "/silences"
        if not IDENTIFIER.fullmatch(silence_id):
            raise Refusal(404, "No such silence.")
        silence = await expire_silence(self.api.store, silence_id)
        if silence is None:
            raise Refusal(404, f"No silence {silence_id}.")
        return self._back(form, here, f"Silence {silence_id} ended: what it held is sent.")

    async def known_errors(self, request: web.Request) -> web.StreamResponse:
        session, new = self._require(request)
        async with self.api.store.transaction(write=False) as tx:
            rows = await queries.known_errors(tx)
        response = self._page(request, session, "known_errors.html", page="known-errors", rows=rows)
        self._finish(response, session, new)
        return response

    async def checks(self, request: web.Request) -> web.StreamResponse:
        session, new = self._require(request)
        rows = list(self.settings.checks()) if self.settings.checks is not None else []
        # Failing first, then not run yet, then passing; by kind and target within each.
        rows.sort(key=lambda r: ({False: 0, None: 1, True: 2}[r.success], r.kind, r.target))
        failing = sum(1 for row in rows if row.success is False)
        response = self._page(
            request,
            session,
            "checks.html",
            page="checks",
            rows=rows,
            failing=failing,
            now=datetime.now(UTC).timestamp(),
        )
        self._finish(response, session, new)
        return response

    async def participant(self, request: web.Request) -> web.StreamResponse:
        """The participant form, and the diagnosis it asks for: the API's own operation,
        run with the signed-in person's role (its zone rules and bounds included)."""
        session, new = self._require(request)
        operation = self.diagnosis
        if operation is None:
            raise Refusal(404, "This agent does not diagnose participants.")
        participant = str(request.query.get("id", "")).strip()[:300]
        zone = str(request.query.get("zone", "")).strip()[:130]
        document_type = str(request.query.get("document_type", "")).strip()[:500]
        result: dict[str, Any] | None = None
        status, problem = 200, ""
        if participant and zone:
            fields = {"zone": zone, **({"document_type": document_type} if document_type else {})}
            try:
                query = operation.query.model_validate(fields) if operation.query else None
                principal = Principal(session.name, session.role)
                call = _ParamCall(request, principal, query=query, params={"id": participant})
                answer = await operation.handler(call)
                body = answer.body if isinstance(answer, web.Response) else None
                if not isinstance(body, bytes):
                    raise Problem(500, "the diagnosis answered no JSON")
                result = json.loads(body)
            except ValidationError as exc:
                status, problem = 400, invalid(exc)
            except Problem as exc:
                status, problem = exc.status, exc.detail
        response = self._page(
            request,
            session,
            "participant.html",
            status=status,
            page="participant",
            participant=participant,
            zone=zone,
            document_type=document_type,
            result=result,
            problem=problem,
        )
        self._finish(response, session, new)
        return response

    # -- live --

    async def events(self, request: web.Request) -> web.StreamResponse:
        session, _ = self.sessions.current(request)
        if session is None:
            raise Refusal(401, "Sign in first.")
        after = request.query.get("after")
        try:
            query = EventQuery.model_validate({} if after is None else {"after": after})
        except ValidationError as exc:
            raise Refusal(400, invalid(exc)) from None
        call = Call(request, Principal(session.name, session.role), query=query)
        try:
            return await stream_events(self.api, call)
        except Problem as exc:
            raise Refusal(exc.status, exc.detail) from None
