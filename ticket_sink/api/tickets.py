"""Ticket endpoints: list, detail, report, transitions, comments, master links.

Reads are one store transaction each; the detail reads only when its cached copy may be
out of date (see `detail`). Writes go through `ticket_sink.service.TicketService`, as
the console's and the MCP server's do, attributed to the caller's token name. Handlers
must never change a ticket themselves, and never decide a transition.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ticket_sink.api import queries
from ticket_sink.api.detail import DetailCache, EncodedDetail, encode_detail
from ticket_sink.api.framework import Call, encoded_json_response, json_response
from ticket_sink.api.problems import Problem
from ticket_sink.api.settings import ApiSettings
from ticket_sink.api.ticket_models import (
    CommentCreate,
    MasterLink,
    TicketCreate,
    TicketListQuery,
)
from ticket_sink.api.views import comment_view, event_view
from ticket_sink.codec import ticket_to_dict
from ticket_sink.lifecycle import Action
from ticket_sink.service import NotFound, TicketService

__all__ = ["TicketHandlers"]

HISTORY_IN_DETAIL = 200


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
        self.service = TicketService(settings.store)

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
            stored = await tx.get(ticket_id)
            if stored is None:
                raise NotFound(f"no ticket {ticket_id}")
            ticket = stored.ticket
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
        ticket = await self.service.create(
            title=form.title,
            description=form.description,
            type=form.type,
            severity=form.severity,
            labels=form.labels,
            assignee_group=form.assignee_group,
            reporter=form.reporter,
            actor=call.actor,
        )
        response = json_response(ticket_to_dict(ticket), status=201)
        response.headers["Location"] = f"{call.request.path}/{ticket.id}"
        return response

    async def transition(self, call: Call) -> web.Response:
        request: Any = call.body
        ticket = await self.service.transition(
            call.param("id"),
            Action(request.action),
            actor=call.actor,
            **request.arguments(),
        )
        return json_response(ticket_to_dict(ticket))

    async def add_comment(self, call: Call) -> web.Response:
        body: CommentCreate = call.body
        note = await self.service.comment(call.param("id"), body.text, actor=call.actor)
        return json_response(comment_view(note), status=201)

    async def link(self, call: Call) -> web.Response:
        body: MasterLink = call.body
        ticket = await self.service.link(call.param("id"), body.master_id, actor=call.actor)
        return json_response(ticket_to_dict(ticket))

    async def detach(self, call: Call) -> web.Response:
        ticket = await self.service.detach(call.param("id"), actor=call.actor)
        return json_response(ticket_to_dict(ticket))
