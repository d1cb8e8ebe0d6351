"""Notifications over HTTP: what a ticket notified and where it was delivered, and the
silences (maintenance windows) that hold notifications.

Only reads and records through `ticket_sink.outbound` (a retry makes failed deliveries due
again; the worker sends them); it must never send anything or drop a notification
(expiring a silence ends it now, and what it held is sent).
"""

from __future__ import annotations

from aiohttp import web

from ticket_sink.api.framework import Call, json_response
from ticket_sink.api.knowledge import parse_matchers
from ticket_sink.api.notice_models import SilenceCreate, SilenceQuery
from ticket_sink.api.problems import Problem
from ticket_sink.api.settings import ApiSettings
from ticket_sink.outbound.outbox import (
    notification_record_to_dict,
    retry_failed,
    ticket_notifications,
)
from ticket_sink.outbound.silences import (
    create_silence,
    expire_silence,
    list_silences,
    silence_to_dict,
)

__all__ = ["NoticeHandlers"]


class NoticeHandlers:
    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings

    async def ticket_notifications(self, call: Call) -> web.Response:
        ticket_id = call.param("id")
        async with self.settings.store.transaction(write=False) as tx:
            if await tx.get(ticket_id) is None:
                raise Problem(404, f"no ticket {ticket_id}", kind="not-found")
        records = await ticket_notifications(self.settings.store, ticket_id)
        return json_response({"items": [notification_record_to_dict(r) for r in records]})

    async def retry_notification(self, call: Call) -> web.Response:
        ticket_id, notification_id = call.param("id"), call.param("notification_id")
        async with self.settings.store.transaction(write=True) as tx:
            retried = await retry_failed(tx, ticket_id, notification_id, actor=call.actor)
        if retried is None:
            raise Problem(
                404, f"no notification {notification_id} of ticket {ticket_id}", kind="not-found"
            )
        if not retried:
            raise Problem(409, "none of its deliveries failed: nothing to retry", kind="conflict")
        records = await ticket_notifications(self.settings.store, ticket_id)
        (record,) = [r for r in records if r.id == notification_id]
        return json_response(notification_record_to_dict(record))

    async def list_silences(self, call: Call) -> web.Response:
        query: SilenceQuery = call.query
        found = await list_silences(self.settings.store, include_expired=query.include_expired)
        return json_response({"items": [silence_to_dict(silence) for silence in found]})

    async def create_silence(self, call: Call) -> web.Response:
        body: SilenceCreate = call.body
        matchers = parse_matchers(body.matchers)
        try:
            silence = await create_silence(
                self.settings.store,
                matchers,
                ends_at=body.ends_at,
                starts_at=body.starts_at,
                created_by=call.actor,
                comment=body.comment,
            )
        except ValueError as exc:
            raise Problem(400, str(exc), field="ends_at", kind="invalid-input") from None
        return json_response(silence_to_dict(silence), status=201)

    async def expire_silence(self, call: Call) -> web.Response:
        silence_id = call.param("id")
        silence = await expire_silence(self.settings.store, silence_id)
        if silence is None:
            raise Problem(404, f"no silence {silence_id}", kind="not-found")
        return json_response(silence_to_dict(silence))
