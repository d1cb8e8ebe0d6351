"""The console's pages and form posts: its routes, sign-in and sign-out, silences, known
errors, checks, a participant's diagnosis and the live event stream; the incidents and
ticket pages are `ticket_pages`, what every page shares is `frame`.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError

from ticket_sink.api import queries
from ticket_sink.api.auth import Principal
from ticket_sink.api.event_models import EventQuery
from ticket_sink.api.events import stream_events
from ticket_sink.api.framework import Call
from ticket_sink.api.knowledge import parse_matchers
from ticket_sink.api.notice_models import SilenceCreate
from ticket_sink.api.problems import Problem
from ticket_sink.console.frame import Handler, PageFrame
from ticket_sink.console.inputs import (
    CONSOLE_PREFIX,
    IDENTIFIER,
    Refusal,
    invalid,
    matcher_lines,
    read_form,
    redirect,
    safe_next,
)
from ticket_sink.console.settings import ConsoleSettings
from ticket_sink.console.ticket_pages import SILENCE_HOURS, TicketPages
from ticket_sink.outbound.silences import create_silence, expire_silence, list_silences
from ticket_sink.service import TicketService

__all__ = ["CONSOLE_EVENTS", "CONSOLE_PREFIX", "Console"]

log = structlog.get_logger("ticket_sink.console")

DIAGNOSIS = "diagnoseParticipant"  # the API operation the participant page runs
CONSOLE_EVENTS = CONSOLE_PREFIX + "/events"  # the live stream, which never ends


@dataclass(frozen=True)
class _ParamCall(Call):
    """A call whose path parameters come from the console's form, not from its URL."""

    params: Mapping[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str:
        return self.params[name]


class Console:
    def __init__(self, settings: ConsoleSettings) -> None:
        self.frame = PageFrame(settings)
        self.settings = settings
        self.api = settings.api
        self.sessions = self.frame.sessions
        self.render = self.frame.render
        self.tickets = TicketPages(self.frame, TicketService(settings.api.store))
        # The API's participant diagnosis, when the application provides one.
        self.diagnosis = next(
            (op for op in settings.api.extra_operations if op.operation_id == DIAGNOSIS), None
        )
        self.render.globals["diagnosis"] = self.diagnosis is not None

    def guarded(self, handler: Handler) -> Handler:
        """`handler` with the console's headers, its refusals and failures answered as
        pages (see `PageFrame.guarded`)."""
        return self.frame.guarded(handler)

    async def unrouted(self, request: web.Request) -> web.StreamResponse:
        return await self.frame.unrouted(request)

    def routes(self) -> list[tuple[str, str, Handler]]:
        p = CONSOLE_PREFIX
        return [
            ("GET", p, self.to_incidents),
            ("GET", p + "/", self.tickets.incidents),
            ("GET", p + "/login", self.login_form),
            ("POST", p + "/login", self.login),
            ("POST", p + "/logout", self.logout),
            ("GET", p + "/tickets/{id}", self.tickets.ticket),
            ("POST", p + "/tickets/{id}/transition", self.tickets.transition),
            ("POST", p + "/tickets/{id}/comment", self.tickets.comment),
            ("POST", p + "/tickets/{id}/link", self.tickets.link),
            ("POST", p + "/tickets/{id}/detach", self.tickets.detach),
            ("POST", p + "/tickets/{id}/known-error", self.tickets.known_error),
            ("POST", p + "/tickets/{id}/notifications/{notification_id}/retry", self.tickets.retry),
            ("POST", p + "/bulk", self.tickets.bulk),
            ("GET", p + "/silences", self.silences),
            ("POST", p + "/silences", self.add_silence),
            ("POST", p + "/silences/{id}/expire", self.end_silence),
            ("GET", p + "/known-errors", self.known_errors),
            ("GET", p + "/checks", self.checks),
            ("GET", p + "/participants", self.participant),
            ("GET", CONSOLE_EVENTS, self.events),
            ("GET", p + "/static/{name}", self.render.asset),
        ]

    async def to_incidents(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": CONSOLE_PREFIX + "/"})

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        session, new = self.sessions.current(request)
        if session is not None:
            response: web.StreamResponse = redirect(safe_next(request.query.get("next")))
            self.frame.finish(response, session, new)
            return response
        return self.frame.page(
            request, None, "login.html", page="login", next=safe_next(request.query.get("next"))
        )

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await read_form(request, self.api.body_timeout_seconds)
        token = form.get("token")
        target = safe_next(form.get("next"))
        session = None
        if isinstance(token, str) and 0 < len(token) <= 1000:
            session = self.sessions.sign_in(token.strip())
        if session is None:
            log.info("console_sign_in_refused", peer=request.remote)
            return self.frame.page(
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
        form = await read_form(request, self.api.body_timeout_seconds)
        if session is not None and not self.sessions.csrf_ok(session, form.get("csrf")):
            raise Refusal(403, "The form's security token is missing or stale: reload the page.")
        response = redirect(CONSOLE_PREFIX + "/login")
        self.sessions.clear_cookie(response)
        return response

    async def silences(self, request: web.Request) -> web.StreamResponse:
        session, new = self.frame.require(request)
        include_expired = request.query.get("expired") == "1"
        found = await list_silences(self.api.store, include_expired=include_expired)
        now = self.api.store.now()
        prefill = request.query.getall("matcher", [])[:32]
        response = self.frame.page(
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
        self.frame.finish(response, session, new)
        return response

    async def add_silence(self, request: web.Request) -> web.StreamResponse:
        session, form = await self.frame.form(request)
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
            return self.frame.back(form, here, invalid(exc), error=True)
        except Problem as exc:
            return self.frame.back(form, here, exc.detail, error=True)
        return self.frame.back(
            form, here, f"Silence {silence.id} holds notifications for {hours}h."
        )

    async def end_silence(self, request: web.Request) -> web.StreamResponse:
        silence_id = request.match_info["id"]
        _, form = await self.frame.form(request)
        here = CONSOLE_PREFIX + "/silences"
        if not IDENTIFIER.fullmatch(silence_id):
            raise Refusal(404, "No such silence.")
        silence = await expire_silence(self.api.store, silence_id)
        if silence is None:
            raise Refusal(404, f"No silence {silence_id}.")
        return self.frame.back(form, here, f"Silence {silence_id} ended: what it held is sent.")

    async def known_errors(self, request: web.Request) -> web.StreamResponse:
        session, new = self.frame.require(request)
        async with self.api.store.transaction(write=False) as tx:
            rows = await queries.known_errors(tx)
        response = self.frame.page(
            request, session, "known_errors.html", page="known-errors", rows=rows
        )
        self.frame.finish(response, session, new)
        return response

    async def checks(self, request: web.Request) -> web.StreamResponse:
        session, new = self.frame.require(request)
        rows = list(self.settings.checks()) if self.settings.checks is not None else []
        # Failing first, then not run yet, then passing; by kind and target within each.
        rows.sort(key=lambda r: ({False: 0, None: 1, True: 2}[r.success], r.kind, r.target))
        failing = sum(1 for row in rows if row.success is False)
        response = self.frame.page(
            request,
            session,
            "checks.html",
            page="checks",
            rows=rows,
            failing=failing,
            now=datetime.now(UTC).timestamp(),
        )
        self.frame.finish(response, session, new)
        return response

    async def participant(self, request: web.Request) -> web.StreamResponse:
        """The participant form, and the diagnosis it asks for: the API's own operation,
        run with the signed-in person's role (its zone rules and bounds included)."""
        session, new = self.frame.require(request)
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
        response = self.frame.page(
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
        self.frame.finish(response, session, new)
        return response

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
