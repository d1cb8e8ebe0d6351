"""The operation table of the ticket API and `setup_api`, which serves it from an app.

Every endpoint is one row here; the routes and `/openapi.json` both come from this table.
`setup_api` must never open resources: the application owns the store and its lifetime.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ticket_sink.api.alert_models import AlertsAccepted, AlertsIn
from ticket_sink.api.alerts import post_alerts
from ticket_sink.api.auth import Role
from ticket_sink.api.event_models import EventQuery
from ticket_sink.api.events import stream_events
from ticket_sink.api.framework import Call, Operation, json_response, route
from ticket_sink.api.knowledge import KnowledgeHandlers
from ticket_sink.api.knowledge_models import KnownErrorCreate, KnownErrorList, KnownErrorOut
from ticket_sink.api.notice_models import (
    NotificationList,
    NotificationOut,
    SilenceCreate,
    SilenceList,
    SilenceOut,
    SilenceQuery,
)
from ticket_sink.api.notices import NoticeHandlers
from ticket_sink.api.openapi import openapi_document
from ticket_sink.api.problems import unrouted
from ticket_sink.api.report_models import ReportOut, ReportQuery
from ticket_sink.api.settings import API_SETTINGS, ApiSettings
from ticket_sink.api.ticket_models import (
    CommentCreate,
    CommentOut,
    MasterLink,
    TicketCreate,
    TicketDetail,
    TicketListQuery,
    TicketOut,
    TicketPage,
    Transition,
)
from ticket_sink.api.tickets import TicketHandlers

__all__ = ["API_PREFIX", "operations", "setup_api"]

API_PREFIX = "/api/v1"

# Problem statuses, by what an operation does.
_READ = (400, 401, 403, 503)
_READ_ONE = (400, 401, 403, 404, 503)
_WRITE = (400, 401, 403, 404, 409, 413, 415, 503)


def _bind(
    function: Callable[[ApiSettings, Call], Awaitable[web.StreamResponse]], settings: ApiSettings
) -> Callable[[Call], Awaitable[web.StreamResponse]]:
    return functools.partial(function, settings)


def operations(
    settings: ApiSettings, document: Callable[[Call], Awaitable[web.Response]]
) -> list[Operation]:
    tickets = TicketHandlers(settings)
    knowledge = KnowledgeHandlers(settings)
    notices = NoticeHandlers(settings)
    return [
        Operation(
            "GET",
            "/tickets",
            "listTickets",
            "List tickets, newest first, filtered",
            tickets.list,
            Role.VIEWER,
            {200: TicketPage},
            query=TicketListQuery,
            tags=("tickets",),
            errors=_READ,
        ),
        Operation(
            "POST",
            "/tickets",
            "createTicket",
            "Report an incident, request or change",
            tickets.create,
            Role.RESPONDER,
            {201: TicketOut},
            body=TicketCreate,
            tags=("tickets",),
            errors=_WRITE,
        ),
        Operation(
            "GET",
            "/tickets/{id}",
            "getTicket",
            "One ticket with its children, history, comments, SLA clocks and workaround",
            tickets.detail,
            Role.VIEWER,
            {200: TicketDetail},
            tags=("tickets",),
            errors=_READ_ONE,
        ),
        Operation(
            "POST",
            "/tickets/{id}/transitions",
            "transitionTicket",
            "Acknowledge, start, hold, resume, resolve, reject the resolution, close, "
            "escalate, deescalate or reassign (409 when the lifecycle refuses, with the reason)",
            tickets.transition,
            Role.RESPONDER,
            {200: TicketOut},
            body=Transition,
            tags=("tickets",),
            errors=_WRITE,
        ),
        Operation(
            "POST",
            "/tickets/{id}/comments",
            "commentTicket",
            "Add a comment",
            tickets.add_comment,
            Role.RESPONDER,
            {201: CommentOut},
            body=CommentCreate,
            tags=("tickets",),
            errors=_WRITE,
        ),
        Operation(
            "PUT",
            "/tickets/{id}/master",
            "linkTicket",
            "Hang a ticket (and its own children) under a master ticket",
            tickets.link,
            Role.RESPONDER,
            {200: TicketOut},
            body=MasterLink,
            tags=("tickets",),
            errors=_WRITE,
        ),
        Operation(
            "DELETE",
            "/tickets/{id}/master",
            "detachTicket",
            "Detach a ticket from its master (it notifies on its own again)",
            tickets.detach,
            Role.RESPONDER,
            {200: TicketOut},
            tags=("tickets",),
            errors=(401, 403, 404, 409, 503),
        ),
        Operation(
            "GET",
            "/tickets/{id}/notifications",
            "getTicketNotifications",
            "What the ticket notified, and its delivery state at each sink",
            notices.ticket_notifications,
            Role.VIEWER,
            {200: NotificationList},
            tags=("notifications",),
            errors=_READ_ONE,
        ),
        Operation(
            "POST",
            "/tickets/{id}/notifications/{notification_id}/retry",
            "retryNotification",
            "Send a notification again to every sink where its delivery failed",
            notices.retry_notification,
            Role.RESPONDER,
            {200: NotificationOut},
            tags=("notifications",),
            errors=(401, 403, 404, 409, 503),
        ),
        Operation(
            "GET",
            "/silences",
            "listSilences",
            "Silences (maintenance windows) that hold notifications",
            notices.list_silences,
            Role.VIEWER,
            {200: SilenceList},
            query=SilenceQuery,
            tags=("notifications",),
            errors=_READ,
        ),
        Operation(
            "POST",
            "/silences",
            "createSilence",
            "Hold the notifications of matching tickets until an end time (none is dropped)",
            notices.create_silence,
            Role.RESPONDER,
            {201: SilenceOut},
            body=SilenceCreate,
            tags=("notifications",),
            errors=_WRITE,
        ),
        Operation(
            "DELETE",
            "/silences/{id}",
            "expireSilence",
            "End a silence now: what it held is sent",
            notices.expire_silence,
            Role.RESPONDER,
            {200: SilenceOut},
            tags=("notifications",),
            errors=(401, 403, 404, 503),
        ),
        Operation(
            "POST",
            "/alerts",
            "postAlerts",
            "Alerts in Alertmanager's webhook format (version 4) or vigie's own",
            _bind(post_alerts, settings),
            Role.INGEST,
            {200: AlertsAccepted},
            body=AlertsIn,
            tags=("alerts",),
            errors=(*_WRITE, 503),
        ),
        Operation(
            "GET",
            "/known-errors",
            "listKnownErrors",
            "The known-error base",
            knowledge.list_known_errors,
            Role.VIEWER,
            {200: KnownErrorList},
            tags=("known errors",),
            errors=_READ,
        ),
        Operation(
            "POST",
            "/known-errors",
            "createKnownError",
            "Record a known error: label matchers and a workaround (or a ticket's resolution)",
            knowledge.add_known_error,
            Role.ADMIN,
            {201: KnownErrorOut},
            body=KnownErrorCreate,
            tags=("known errors",),
            errors=_WRITE,
        ),
        Operation(
            "GET",
            "/reports",
            "getReport",
            "Ticket report of a period",
            knowledge.report,
            Role.VIEWER,
            {200: ReportOut},
            query=ReportQuery,
            tags=("reports",),
            errors=_READ,
        ),
        Operation(
            "GET",
            "/events",
            "streamEvents",
            "Server-Sent Events of every ticket change (resume with Last-Event-ID)",
            _bind(stream_events, settings),
            Role.VIEWER,
            {200: "text/event-stream"},
            query=EventQuery,
            tags=("events",),
            errors=_READ,
            parameters=(
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "description": "the id of the last event received: the stream resumes after it",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                },
            ),
        ),
        *settings.extra_operations,
        Operation(
            "GET",
            "/openapi.json",
            "getOpenApi",
            "This document",
            document,
            None,
            {200: "application/json"},
            tags=("meta",),
        ),
    ]


def setup_api(app: web.Application, settings: ApiSettings) -> list[Operation]:
    """Serve the API under /api/v1 from `app` (call before the app starts); the operations
    served, for the interfaces that call them in process (MCP)."""
    app[API_SETTINGS] = settings
    document: dict[str, Any] = {}

    async def openapi(call: Call) -> web.Response:
        return json_response(document)

    table = operations(settings, openapi)
    document.update(
        openapi_document(
            table,
            prefix=API_PREFIX,
            title=settings.title,
            version=settings.version,
            anonymous_read=settings.access.anonymous_read,
        )
    )
    for operation in table:
        handler = route(
            operation, settings.access, settings.max_body_bytes, settings.body_timeout_seconds
        )
        # Unnamed: the methods of one path then share one aiohttp resource, which the
        # router tries once per request instead of once per method.
        app.router.add_route(operation.method, API_PREFIX + operation.path, handler)
        # HEAD answers as GET would, without the body; not on a stream, which never ends.
        if operation.method == "GET" and "text/event-stream" not in operation.responses.values():
            app.router.add_route("HEAD", API_PREFIX + operation.path, handler)
    # Last: aiohttp tries the resources under the longest matching prefix first, in order.
    # `[\s\S]`, not `.`: a path may hold a decoded newline (%0A).
    app.router.add_route("*", API_PREFIX + r"/{path:[\s\S]*}", unrouted(app))
    return table
