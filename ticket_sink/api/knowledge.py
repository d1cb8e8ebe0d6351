"""Known errors and reports: the desk's accumulated knowledge, over HTTP.

Known errors are matched against labels by `lifecycle.attach_known_error` when tickets
are created, and a new entry is attached at once to the matching tickets being worked;
this module lists and records entries. It must never edit or delete
an entry (nothing is deleted).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from aiohttp import web

from ticket_sink.api import queries
from ticket_sink.api.fields import MatcherIn
from ticket_sink.api.framework import Call, json_response
from ticket_sink.api.knowledge_models import (
    KnownErrorCreate,
    KnownErrorFromTicket,
    KnownErrorWithWorkaround,
)
from ticket_sink.api.problems import Problem
from ticket_sink.api.report_models import ReportQuery
from ticket_sink.api.settings import ApiSettings
from ticket_sink.api.views import known_error_view
from ticket_sink.model import Matcher, MatchOp
from ticket_sink.reports import report, report_to_dict
from ticket_sink.service import TicketService

__all__ = ["KnowledgeHandlers", "parse_matchers"]


def parse_matchers(given_matchers: Sequence[MatcherIn]) -> tuple[Matcher, ...]:
    """The request's matchers (of a known error or a silence); 400 naming the one whose
    regex does not compile."""
    matchers = []
    for index, given in enumerate(given_matchers):
        try:
            matchers.append(Matcher(given.name, MatchOp(given.op), given.value))
        except ValueError as exc:  # a regex that does not compile
            field = f"matchers[{index}].value"
            raise Problem(400, str(exc), field=field, kind="invalid-input") from None
    return tuple(matchers)


class KnowledgeHandlers:
    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.service = TicketService(settings.store)

    async def list_known_errors(self, call: Call) -> web.Response:
        async with self.settings.store.transaction(write=False) as tx:
            rows = await queries.known_errors(tx)
        items = [
            known_error_view(row.entry, created_at=row.created_at, created_by=row.created_by)
            for row in rows
        ]
        return json_response({"items": items})

    async def add_known_error(self, call: Call) -> web.Response:
        body: KnownErrorCreate = call.body
        matchers = parse_matchers(body.matchers)
        entry, now = await self.service.add_known_error(
            matchers,
            actor=call.actor,
            workaround=body.workaround if isinstance(body, KnownErrorWithWorkaround) else None,
            from_ticket=body.from_ticket if isinstance(body, KnownErrorFromTicket) else None,
        )
        view = known_error_view(entry, created_at=now, created_by=call.actor)
        return json_response(view, status=201)

    async def report(self, call: Call) -> web.Response:
        query: ReportQuery = call.query
        until = query.until or datetime.now(UTC)
        found = await report(
            self.settings.store, since=query.since, until=until, policy=self.settings.policy
        )
        return json_response(report_to_dict(found))
