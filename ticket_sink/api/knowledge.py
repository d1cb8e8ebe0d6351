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
from ticket_sink.api.framework import Call, json_response
from ticket_sink.api.models import (
    KnownErrorCreate,
    KnownErrorFromTicket,
    MatcherIn,
    ReportQuery,
)
from ticket_sink.api.problems import Problem
from ticket_sink.api.settings import ApiSettings
from ticket_sink.api.views import known_error_view
from ticket_sink.lifecycle import TransitionError, attach_known_error, known_error_from
from ticket_sink.model import KnownError, Matcher, MatchOp
from ticket_sink.reports import report, report_to_dict
from ticket_sink.tickets import new_ticket_id

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
        entry_id = "K" + new_ticket_id()[1:]
        async with self.settings.store.transaction(write=True) as tx:
            if isinstance(body, KnownErrorFromTicket):
                stored = await tx.get(body.from_ticket)
                if stored is None:
                    # 409, not 404: the path names no missing resource; the body refers to one.
                    raise Problem(
                        409, f"no ticket {body.from_ticket}", field="from_ticket", kind="refused"
                    )
                try:
                    entry = known_error_from(stored.ticket, id=entry_id, matchers=matchers)
                except TransitionError as exc:
                    raise Problem(409, str(exc), field="from_ticket", kind="refused") from None
            else:
                entry = KnownError(entry_id, matchers, body.workaround)
            await tx.add_known_error(entry, actor=call.actor)
            now = tx.now
            # The tickets already being worked that match get the workaround too.
            for stored in await tx.worked_without_known_error():
                ticket, events = attach_known_error(
                    stored.ticket, [entry], actor=call.actor, at=now
                )
                if events:
                    await tx.save(ticket, events)
        view = known_error_view(entry, created_at=now, created_by=call.actor)
        return json_response(view, status=201)

    async def report(self, call: Call) -> web.Response:
        query: ReportQuery = call.query
        until = query.until or datetime.now(UTC)
        found = await report(
            self.settings.store, since=query.since, until=until, policy=self.settings.policy
        )
        return json_response(report_to_dict(found))
