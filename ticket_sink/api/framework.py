"""The API's operations as data: one table gives the routes, the checks and the OpenAPI.

An `Operation` names its method, path, required role and the models of its query and body.
`route` wraps a handler so that authentication, the body size limit and validation happen
before it runs, the same way for every operation, and `openapi` reads the same table. A
handler must never parse a body or check a token itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, get_origin

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from ticket_sink.api.auth import ANONYMOUS, AccessPolicy, Principal, Role
from ticket_sink.api.problems import Problem, problem_for, validation_problem

__all__ = [
    "Call",
    "Operation",
    "adapter_for",
    "authorize",
    "bearer",
    "body_deadline",
    "encoded_json_response",
    "is_tagged_union",
    "json_bytes",
    "json_response",
    "read_body",
    "require",
    "route",
]

M = TypeVar("M")


@dataclass(frozen=True)
class Call:
    """What a handler gets: the request, who made it, and its validated inputs."""

    request: web.Request
    principal: Principal
    body: Any = None
    query: Any = None
    # The path parameters, when they are not the request's own: an operation called in
    # process by another interface (MCP) runs under that interface's request.
    params: Mapping[str, str] | None = None
    # The interface the call came through when it is not the API itself ("mcp"): the audit
    # trail records it beside the token's name.
    via: str | None = None

    def param(self, name: str) -> str:
        if self.params is not None:
            return self.params[name]
        return self.request.match_info[name]

    @property
    def actor(self) -> str:
        if self.via is None:
            return self.principal.name
        return f"{self.principal.name} via {self.via}"


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Operation:
    """One endpoint. `path` is relative to the API's prefix, aiohttp style (`/tickets/{id}`).

    `role` None means public (the OpenAPI document). `body` is a pydantic model or an
    annotated type (a discriminated union); `query` a model whose fields are the query
    parameters. `responses` maps success statuses to a model (JSON), or to a media type
    for other content.
    """

    method: str
    path: str
    operation_id: str
    summary: str
    handler: Handler
    role: Role | None
    responses: Mapping[int, type[BaseModel] | str]
    body: Any = None
    query: type[BaseModel] | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()  # the problem statuses it may answer
    parameters: tuple[dict[str, Any], ...] = ()  # more OpenAPI parameters (headers)

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD")


# `json.dumps` with options builds an encoder per call; every response shares this one.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def json_bytes(data: Any) -> bytes:
    """`data` as the API's JSON (compact, ASCII)."""
    return _compact_json(data).encode()


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return encoded_json_response(json_bytes(data), status=status)


def encoded_json_response(body: bytes, *, status: int = 200) -> web.Response:
    """A response whose body is JSON already encoded (by `json_bytes`)."""
    return web.Response(status=status, body=body, content_type="application/json")


@contextlib.asynccontextmanager
async def body_deadline(request: web.Request, seconds: float) -> AsyncIterator[None]:
    """Reading `request`'s body, the same way for every interface: 415 for a body sent
    with a Content-Encoding, 408 if it has not all arrived within `seconds` (a client
    trickling its body would otherwise hold its connection, which the server's cap cannot
    then give to another), 400 for a body its Content-Encoding does not decode (where the
    server decompresses), and 400 for a client that left before sending it all (nobody
    reads that answer, but it is not a bug of ours to log)."""
    coding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if coding not in ("", "identity"):
        # No client of ours compresses what it sends, and a decompressed body could be a
        # thousand times its size on the wire: `vigie.serve` leaves bodies as sent.
        raise Problem(
            415,
            "a request body is taken as sent, without a Content-Encoding",
            field="Content-Encoding",
            kind="unsupported-media-type",
            headers={"Accept-Encoding": "identity"},
        )
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise Problem(
            408,
            f"the body did not arrive within {seconds:g}s",
            kind="timeout",
        ) from None
    except web.RequestPayloadError:
        # aiohttp's message names the codec; the client needs only to know it is broken.
        raise Problem(
            400,
            "the body does not decode as its Content-Encoding says",
            field="Content-Encoding",
            kind="invalid-input",
        ) from None
    except ConnectionError:
        raise Problem(400, "the connection closed before the body arrived") from None


async def read_body(
    request: web.Request, limit: int, seconds: float, *, required: bool = True
) -> bytes:
    """The raw body; 413 past `limit` bytes (checked before and while reading), what
    `body_deadline` refuses, and 400 if empty and `required`."""
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, f"the body is over the limit of {limit} bytes", kind="too-large")
    chunks: list[bytes] = []
    size = 0
    async with body_deadline(request, seconds):
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise Problem(413, f"the body is over the limit of {limit} bytes", kind="too-large")
            chunks.append(chunk)
    raw = b"".join(chunks)
    if required and not raw.strip():
        raise Problem(400, "the request needs a JSON body", field="body", kind="invalid-input")
    return raw


def _body_problem(exc: ValidationError, *, tagged: bool) -> Problem:
    """400 for a body that is not JSON at all, else the first invalid field's."""
    errors = exc.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        reason = errors[0]["msg"].removeprefix("Invalid JSON: ")
        return Problem(
            400, f"the body is not valid JSON: {reason}", field="body", kind="invalid-input"
        )
    return validation_problem(exc, tagged=tagged)


def bearer(request: web.Request, policy: AccessPolicy) -> Principal:
    """The caller its Authorization header names (anonymous without one); 401 for a header
    that names no configured token, 400 for more than one header."""
    headers = request.headers.getall("Authorization", [])
    if not headers:
        return ANONYMOUS
    if len(headers) > 1:
        # Which one is the caller? Believing the first or the last would let whatever
        # adds a header on the way choose.
        raise Problem(400, "a request carries one Authorization header", field="Authorization")
    header = headers[0]
    scheme, _, token = header.partition(" ")
    token = token.strip()
    principal = policy.identify(token) if scheme.lower() == "bearer" and token else None
    if principal is None:
        raise Problem(
            401,
            "the bearer token is not valid",
            kind="unauthorized",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return principal


def authorize(request: web.Request, policy: AccessPolicy, needed: Role) -> Principal:
    """The caller, if allowed `needed`; 401 without a valid token, 403 if under-privileged."""
    principal = bearer(request, policy)
    require(principal, policy, needed)
    return principal


def require(principal: Principal, policy: AccessPolicy, needed: Role) -> None:
    """Nothing if `principal` may do what needs `needed`; else 401 for the anonymous
    caller, 403 for a token with a weaker role."""
    if principal.may(needed, anonymous_read=policy.anonymous_read):
        return
    if principal.role is None:
        raise Problem(
            401,
            f"this operation needs a bearer token with the {needed} role",
            kind="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    raise Problem(
        403,
        f"token {principal.name} has the {principal.role} role; this operation needs {needed}",
        kind="forbidden",
    )


def _query_values(request: web.Request, model: type[BaseModel]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in request.query:
            continue
        given = request.query.getall(name)
        if get_origin(info.annotation) is list:
            values[name] = given
        elif len(given) > 1:
            # Which one was meant? Taking the first would answer a question not asked.
            raise Problem(
                400,
                f"query parameter {name} takes one value, not {len(given)}",
                field=name,
                kind="invalid-input",
            )
        else:
            values[name] = given[0]
    unknown = sorted(set(request.query) - set(model.model_fields))
    if unknown:
        raise Problem(
            400, f"unknown query parameter {unknown[0]}", field=unknown[0], kind="invalid-input"
        )
    return values


_adapters: dict[int, TypeAdapter[Any]] = {}


def adapter_for(body: Any) -> TypeAdapter[Any]:
    """The validator of an operation's body type (made once per type)."""
    # Building a TypeAdapter compiles a validator: do it once per body type.
    adapter = _adapters.get(id(body))
    if adapter is None:
        adapter = _adapters[id(body)] = TypeAdapter(body)
    return adapter


def is_tagged_union(adapter: TypeAdapter[Any]) -> bool:
    schema = adapter.core_schema
    if schema["type"] == "definitions":
        schema = schema["schema"]
    return bool(schema["type"] == "tagged-union")


def _json_content_type(request: web.Request) -> None:
    """415 for a body declared as anything but JSON (no Content-Type: taken as JSON)."""
    if "Content-Type" not in request.headers:
        return
    media = request.content_type
    if media != "application/json" and not media.endswith("+json"):
        raise Problem(
            415,
            f"the body must be JSON (Content-Type: application/json), not {media}",
            field="Content-Type",
            kind="unsupported-media-type",
        )


def route(
    operation: Operation, policy: AccessPolicy, max_body_bytes: int, body_seconds: float
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp handler doing the checks common to every operation, then the handler;
    what it raises is answered as a problem (`problem_for`)."""
    query_model = operation.query
    body_adapter = None if operation.body is None else adapter_for(operation.body)
    tagged = body_adapter is not None and is_tagged_union(body_adapter)

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            principal = (
                ANONYMOUS if operation.role is None else authorize(request, policy, operation.role)
            )
            query = None
            if query_model is not None:
                try:
                    query = query_model.model_validate(_query_values(request, query_model))
                except ValidationError as exc:
                    raise validation_problem(exc) from None
            body = None
            if body_adapter is not None:
                # Parsed and validated in one pass over the bytes, without a dict in between:
                # for a batch of alerts this is most of what the request costs.
                _json_content_type(request)
                raw = await read_body(request, max_body_bytes, body_seconds)
                try:
                    # Strict: `true` is not a severity, "2" is not a number.
                    body = body_adapter.validate_json(raw, strict=True)
                except ValidationError as exc:
                    raise _body_problem(exc, tagged=tagged) from None
            return await operation.handler(Call(request, principal, body, query))
        except Exception as exc:
            # Here rather than in a middleware, which every request of the app would pay for.
            return problem_for(exc, request)

    return handle
