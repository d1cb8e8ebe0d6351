"""The API's operations called in process, for the MCP tools: one path to the store.

A tool names an API operation (`listTickets`, `transitionTicket`, ...) and its inputs; this
module checks the caller's role against the operation's, validates the inputs with the
operation's own models, runs the operation's handler and hands back its JSON, so a tool
reads and writes exactly what the same API request would, and its refusals carry the
API's detail text. Writes are attributed to the token's name, marked `via mcp`. It must
never reach the store itself, and never decide what a role may do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ticket_sink.api.auth import AccessPolicy, Principal
from ticket_sink.api.framework import Call, Operation, adapter_for, is_tagged_union, require
from ticket_sink.api.problems import as_problem, validation_problem
from vocab.errors import ClientFacingError

__all__ = ["Caller", "LocalApi", "ToolFailure"]

VIA = "mcp"


class ToolFailure(ClientFacingError):
    """A refusal to show the model as a tool error: the API's detail text."""

    def __init__(self, detail: str, *, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls, and the HTTP request (of the MCP endpoint) their call arrived in."""

    request: web.Request
    principal: Principal


class LocalApi:
    """The API's operation table, callable by operation id."""

    def __init__(self, operations: Sequence[Operation], policy: AccessPolicy) -> None:
        self._operations = {operation.operation_id: operation for operation in operations}
        self.policy = policy

    def offers(self, operation_id: str) -> bool:
        return operation_id in self._operations

    def may(self, principal: Principal, operation_id: str) -> bool:
        role = self._operations[operation_id].role
        return role is None or principal.may(role, anonymous_read=self.policy.anonymous_read)

    async def call(
        self,
        operation_id: str,
        caller: Caller,
        *,
        params: Mapping[str, str] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """The operation's JSON answer; `ToolFailure` with the API's detail if it refuses."""
        operation = self._operations[operation_id]
        try:
            if operation.role is not None:
                require(caller.principal, self.policy, operation.role)
            call = Call(
                caller.request,
                caller.principal,
                body=_body(operation, body),
                query=_query(operation, query),
                params=dict(params or {}),
                via=VIA,
            )
            response = await operation.handler(call)
        except Exception as exc:
            problem = as_problem(exc, caller.request)
            raise ToolFailure(problem.detail, status=problem.status) from None
        if not isinstance(response, web.Response) or response.body is None:
            raise ToolFailure(f"{operation_id} does not answer with JSON", status=500)
        assert isinstance(response.body, bytes)  # json_response always encodes
        return json.loads(response.body)


def _query(operation: Operation, given: Mapping[str, Any] | None) -> Any:
    if operation.query is None:
        return None
    values = {name: value for name, value in (given or {}).items() if value is not None}
    try:
        return operation.query.model_validate(values)
    except ValidationError as exc:
        raise validation_problem(exc) from None


def _body(operation: Operation, given: Any) -> Any:
    if operation.body is None:
        return None
    try:
        return adapter_for(operation.body).validate_python(given)
    except ValidationError as exc:
        tagged = is_tagged_union(adapter_for(operation.body))
        raise validation_problem(exc, tagged=tagged) from None
