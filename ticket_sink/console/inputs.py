"""What the console reads from a request: its forms, its filters and its identifiers,
checked and bounded, and the refusals it answers with a page.

Nothing here touches the store. It must never let an unchecked value through: an
identifier, a redirect target or a filter is valid or refused (400 or 404), never passed
on as given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy
from pydantic import ValidationError

from ticket_sink.api import queries
from ticket_sink.api.framework import body_deadline
from ticket_sink.api.problems import Problem
from ticket_sink.api.queries import TicketFilter
from ticket_sink.console import reads
from ticket_sink.console.session import Session
from ticket_sink.model import TicketState
from vocab.errors import ClientFacingError

__all__ = [
    "CONSOLE_PREFIX",
    "IDENTIFIER",
    "IncidentView",
    "Refusal",
    "incident_query",
    "invalid",
    "matcher_lines",
    "next_of",
    "read_form",
    "redirect",
    "safe_next",
    "ticket_id_of",
    "transition_fields",
]

CONSOLE_PREFIX = "/console"
UNRESOLVED = ("new", "open", "in_progress", "on_hold")
MAX_PAGE = 10_000
RETURN_TO = re.compile(r"^/console/[A-Za-z0-9/_.~%&=+,:;@?-]{0,2000}$")
IDENTIFIER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNREADABLE = "The form could not be read."
_FORM_PROBLEMS = {
    408: "The form did not arrive in time: send it again.",
    415: "The form must be sent as it is, not compressed.",
}


class Refusal(ClientFacingError):
    """A request the console answers with an error page (403, 400, 404)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class IncidentView:
    """The incidents page's filters, as read from its URL, and the links that keep them."""

    def __init__(self, params: Mapping[str, Any], where: reads.IncidentFilter, page: int) -> None:
        self.params = params
        self.where = where
        self.page = page

    def link(self, **changes: Any) -> str:
        merged = {**self.params, **changes}
        pairs = []
        for key, value in merged.items():
            values = value if isinstance(value, list) else [value]
            pairs += [(key, item) for item in values if item not in (None, "", 0, False)]
        return CONSOLE_PREFIX + "/" + ("?" + urlencode(pairs) if pairs else "")

    @property
    def active(self) -> int:
        """How many filters the URL sets."""
        return sum(1 for key, value in self.params.items() if value and key != "page")

    def has(self, key: str, value: Any) -> bool:
        current = self.params.get(key)
        return value in current if isinstance(current, list) else current == value


def incident_query(query: Mapping[str, Any], session: Session) -> IncidentView:
    getall = getattr(query, "getall", None)

    def many(name: str, limit: int) -> list[str]:
        values = getall(name, []) if getall is not None else []
        return [value[:200] for value in values[:limit]]

    states = [s for s in many("state", 6) if s in {state.value for state in TicketState}]
    severities = [s for s in many("severity", 4) if s in {"1", "2", "3", "4"}]
    labels = many("label", 4)
    service = str(query.get("service", ""))[:200].strip()
    group = str(query.get("group", ""))[:200].strip()
    text = str(query.get("q", ""))[:100].strip()
    if "\x00" in text:  # SQLite's string functions stop at a NUL: it would match every title
        raise Refusal(400, "search text: a NUL character is not searchable")
    mine = query.get("mine") == "1"
    try:
        page = min(max(int(str(query.get("page", "1"))), 1), MAX_PAGE) - 1
    except ValueError:
        page = 0
    matchers = []
    for index, label in enumerate(labels):
        try:
            matchers.append(queries.parse_matcher(label))
        except ValueError as exc:
            raise Refusal(400, f"label filter {index + 1}: {exc}") from None
    if service:
        matchers.append(queries.parse_matcher(f"service={service}"))
    where = reads.IncidentFilter(
        TicketFilter(
            states=states or list(UNRESOLVED),
            severities=[int(s) for s in severities],
            matchers=matchers,
            text=text or None,
        ),
        group=group or None,
        mine=session.name if mine else None,
    )
    params = {
        "state": states,
        "severity": severities,
        "service": service,
        "group": group,
        "label": labels,
        "q": text,
        "mine": "1" if mine else "",
    }
    return IncidentView(params, where, page)


async def read_form(request: web.Request, seconds: float) -> MultiDictProxy[Any]:
    """The posted form, read as the API reads a body (`body_deadline`: 415 if compressed,
    408 past `seconds`) within the application's size limit (413); 400 for
    a body that is no form (a broken multipart, a charset no codec knows)."""
    # aiohttp checks its size limit only as the body arrives: a length declared over it
    # would be waited for, then refused.
    if request.content_length is not None and request.content_length > request.client_max_size:
        raise Refusal(413, "The form is larger than the console accepts.")
    try:
        async with body_deadline(request, seconds):
            return await request.post()
    except Problem as exc:
        raise Refusal(exc.status, _FORM_PROBLEMS.get(exc.status, _UNREADABLE)) from None
    except (ValueError, LookupError, HttpProcessingError):
        raise Refusal(400, _UNREADABLE) from None


def redirect(location: str) -> web.Response:
    """303 See Other: after a post, the browser gets the page with GET."""
    return web.Response(status=303, headers={"Location": location})


def ticket_id_of(request: web.Request) -> str:
    ticket_id = request.match_info["id"]
    if not IDENTIFIER.fullmatch(ticket_id):
        raise Refusal(404, "No such ticket.")
    return ticket_id


def transition_fields(form: MultiDictProxy[Any], action: str) -> dict[str, Any]:
    """The form's fields that `action` takes, as the API's transition body."""
    fields: dict[str, Any] = {"action": action}
    wanted = {"resolve": "resolution", "close": "reason", "reassign": "group"}
    name = wanted.get(action)
    if name is not None:
        fields[name] = str(form.get(name, "")).strip()
    if action in ("escalate", "deescalate") and form.get("level"):
        fields["level"] = str(form.get("level"))
    return fields


def matcher_lines(lines: list[Any]) -> list[dict[str, str]]:
    """`name=value` lines (also !=, =~, !~) as the API's matcher objects."""
    matchers = []
    for line in lines:
        text = str(line).strip()
        if not text:
            continue
        matcher = queries.parse_matcher(text)  # ValueError names the line
        matchers.append({"name": matcher.name, "op": matcher.op.value, "value": matcher.value})
    return matchers


def invalid(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False, include_input=False)
        if errors:
            where = ".".join(str(part) for part in errors[0]["loc"] if not str(part).isdigit())
            message = errors[0]["msg"].removeprefix("Value error, ")
            return f"{where}: {message}" if where else message
    return str(exc)


def next_of(request: web.Request) -> str:
    return request.path_qs if request.method == "GET" else CONSOLE_PREFIX + "/"


def safe_next(value: Any) -> str:
    if isinstance(value, str) and RETURN_TO.fullmatch(value) and ".." not in value:
        return value
    return CONSOLE_PREFIX + "/"
