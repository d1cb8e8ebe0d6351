"""Errors as RFC 9457 problem details (`application/problem+json`).

Every error the API returns goes through `problem_response`, so clients parse one shape:
`type`, `title`, `status`, `detail`, and `field` (the offending input, dotted) when one
input is at fault. A handler raises `Problem`; `problem_for` turns it, aiohttp's own HTTP
errors and pydantic's validation errors into that shape (`framework.route` calls it around
each operation), and `unrouted` answers the API's paths that match no operation. It must
never let a client's input become a 500, and never put a stack trace or a token in a
response.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from ticket_sink.service import NotFound, Refused
from ticket_sink.store import StoreConflict, StoreError
from vocab.errors import ClientFacingError, UnavailableError

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "NotAvailable",
    "Problem",
    "allowed_methods",
    "as_problem",
    "problem_for",
    "problem_response",
    "unrouted",
    "validation_problem",
]

log = structlog.get_logger("ticket_sink.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Problem types are relative references resolved against the API's base URL; "about:blank"
# is RFC 9457's "nothing more than the status code".
_TYPE_BASE = "/api/v1/problems/"


class NotAvailable(UnavailableError):
    """A dependency of an operation (the correlator, the reports) is not running."""


class Problem(ClientFacingError):
    """An error for the client: status, one-line detail, and the field at fault if any."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        kind: str | None = None,
        errors: Sequence[dict[str, str]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.kind = kind
        self.errors = list(errors)
        self.headers = headers or {}


def problem_response(problem: Problem) -> web.Response:
    body: dict[str, Any] = {
        "type": _TYPE_BASE + problem.kind if problem.kind else "about:blank",
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.field is not None:
        body["field"] = problem.field
    if problem.errors:
        body["errors"] = problem.errors
    return web.Response(
        status=problem.status,
        text=json.dumps(body),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=problem.headers,
    )


def _location(loc: Sequence[int | str], prefix: str) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" not in part:  # pydantic names union members ("function-after[...]")
            out += f".{part}" if out else part
    return out


def validation_problem(exc: ValidationError, *, tagged: bool = False) -> Problem:
    """400 naming the first invalid field; `errors` lists them all.

    `tagged`: the input is a tagged union, whose tag pydantic puts first in each location
    (the client wrote `resolution`, not `resolve.resolution`).
    """
    errors = [
        {
            "field": _location(error["loc"][1:] if tagged else error["loc"], ""),
            "message": error["msg"].removeprefix("Value error, "),
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid"}
    where = first["field"] or "body"
    return Problem(
        400,
        f"{where}: {first['message']}",
        field=first["field"] or None,
        kind="invalid-input",
        errors=errors,
    )


def problem_for(exc: Exception, request: web.Request) -> web.Response:
    """The problem response for what an operation raised (call it in the `except` block,
    which the log of an unexpected error shows); an HTTP status under 400 (a redirect) is
    raised again, as it is not an error."""
    return problem_response(as_problem(exc, request))


def as_problem(exc: Exception, request: web.Request) -> Problem:
    """What an operation raised, as the problem the API answers for it (see `problem_for`);
    the other interfaces that call operations (MCP) show its detail the same way."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, ValidationError):
        return validation_problem(exc)
    if isinstance(exc, NotFound):
        return Problem(404, exc.detail, field=exc.field, kind="not-found")
    if isinstance(exc, Refused):
        return Problem(409, exc.detail, field=exc.field, kind="refused")
    if isinstance(exc, NotAvailable):
        return Problem(503, str(exc), kind="not-available")
    if isinstance(exc, StoreConflict):
        detail = "another change to the same ticket happened at the same time: try again"
        return Problem(409, detail, kind="conflict")
    if isinstance(exc, StoreError):
        log.warning("api_store_error", path=request.path, error=str(exc))
        return Problem(503, "the ticket store is unavailable", kind="store")
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return Problem(exc.status, _http_detail(exc))
    # A bug of ours: logged with its trace, answered without it.
    log.exception("api_internal_error", path=request.path, method=request.method)
    return Problem(500, "internal error (logged by the agent)")


async def allowed_methods(app: web.Application, request: web.Request) -> str:
    """The methods that `request`'s path allows, comma-separated ("" if none), as the
    resources of `app` other than the one that caught the request say."""
    allowed: set[str] = set()
    for resource in app.router.resources():
        if resource is not request.match_info.route.resource:
            allowed |= (await resource.resolve(request))[1]
    return ",".join(sorted(allowed))


def unrouted(app: web.Application) -> Handler:
    """The handler of every API path no operation matched: 405 naming the methods the path
    allows, or 404. Registered last, so that it only gets what nothing else matched."""

    async def handler(request: web.Request) -> web.StreamResponse:
        methods = await allowed_methods(app, request)
        if not methods:
            return problem_response(Problem(404, f"no such resource: {request.path}"))
        detail = f"{request.method} is not allowed on {request.path} (allowed: {methods})"
        return problem_response(Problem(405, detail, headers={"Allow": methods}))

    return handler


def _http_detail(exc: web.HTTPException) -> str:
    # 404 and 405 never get here: `unrouted` answers what no operation matches.
    if exc.status == 413:
        return "the request body is larger than the API accepts"
    return exc.reason
