"""The MCP server: the tool table, the resources and the prompts behind the SDK's
low-level `Server`.

Each handler finds its caller (`dispatch.Caller`) in the HTTP request the message came
in, placed there by the endpoint after it checked the bearer token (`http`). A caller
sees the tools its role may use; a call to another one is refused with the API's text.
Resources and prompts are made from the same tools, so they read what the tools read.
This module must never check a token itself, and never reach the store.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    GetPromptRequestParams,
    GetPromptResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    PaginatedRequestParams,
    Prompt,
    PromptArgument,
    PromptMessage,
    ReadResourceRequestParams,
    ReadResourceResult,
    Resource,
    ResourceTemplate,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)
from mcp_types import Tool as ToolInfo
from pydantic import ValidationError

from ticket_sink.api.framework import json_bytes
from ticket_sink.api.problems import validation_problem
from ticket_sink.codec import iso
from ticket_sink.mcp.dispatch import Caller, LocalApi, ToolFailure
from ticket_sink.mcp.tools import TOOLS, Session, Tool

__all__ = ["CALLER_KEY", "PROMPTS", "build_server"]

log = structlog.get_logger("ticket_sink.mcp")

# Where the endpoint puts the authenticated caller in each request's ASGI scope.
CALLER_KEY = "vigie.caller"
JSON = "application/json"
CHECKS_URI = "vigie://checks"
TICKET_URI = re.compile(r"^vigie://tickets/([A-Za-z0-9]{1,64})$")
RESOURCE_NOT_FOUND = -32002  # the MCP specification's code for an unknown resource

_INSTRUCTIONS = (
    "vigie monitors eDelivery and Peppol infrastructure (SML, SMPs, PKI, Access Points) "
    "and keeps the resulting incidents as tickets with a service-desk lifecycle. Read "
    "with list_tickets, get_ticket and latest_checks; act with transition_ticket and "
    "comment_ticket when your token allows it. Every change is recorded under your "
    "token's name. Answers are paged: follow next_cursor or page.next_offset."
)


def _caller(ctx: ServerRequestContext[Any, Any]) -> Caller:
    request = ctx.request
    caller = None if request is None else request.scope.get(CALLER_KEY)
    if not isinstance(caller, Caller):
        # The endpoint always sets it: a message without one did not come through it.
        raise MCPError(INTERNAL_ERROR, "this MCP server answers only through /mcp")
    return caller


def _tool_info(tool: Tool) -> ToolInfo:
    return ToolInfo(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.arguments.model_json_schema(),
        annotations=ToolAnnotations(
            title=tool.title,
            read_only_hint=tool.read_only,
            destructive_hint=False,  # nothing is deleted; every change is audited
            open_world_hint=False,
        ),
    )


def _logged(tool: Tool, session: Session, outcome: str) -> None:
    # One event per call: which tool, whose token, how it ended; never the arguments,
    # which may hold whatever the model wrote.
    log.info("mcp_tool_call", tool=tool.name, caller=session.caller.principal.name, outcome=outcome)


def _error(detail: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=detail)], is_error=True)


class _Prompt:
    def __init__(
        self,
        name: str,
        description: str,
        arguments: Sequence[PromptArgument],
        make: Callable[[Session, dict[str, str], datetime], Awaitable[str]],
    ) -> None:
        self.info = Prompt(name=name, description=description, arguments=list(arguments))
        self.make = make


async def _triage(session: Session, arguments: dict[str, str], now: datetime) -> str:
    tickets = await _run(
        session,
        "list_tickets",
        {"state": ["new", "open", "in_progress"], "type": ["incident"], "limit": 50},
    )
    checks = await _run(session, "latest_checks", {"failing_only": True})
    return (
        "Triage the open incidents of this vigie agent. Group the tickets that share a "
        "root cause (same target, SMP, zone or certificate chain), say which to "
        "acknowledge first and why (severity, SLA clocks, how many participants are "
        "affected), and which failing checks have no ticket yet. Use get_ticket and "
        "similar_tickets for more; acknowledge only when asked.\n\n"
        f"Open incidents at {iso(now)}:\n{_text(tickets)}\n\nFailing checks:\n{_text(checks)}"
    )


async def _handover(session: Session, arguments: dict[str, str], now: datetime) -> str:
    ticket_id = arguments.get("ticket_id", "")
    detail = await _run(session, "get_ticket", {"id": ticket_id})
    return (
        f"Summarise ticket {ticket_id} for the next person on call, at {iso(now)}: what "
        "failed and since when, who did what (from the history and comments), its state "
        "and SLA clocks, the workaround if any, and the next step. Be short and factual.\n\n"
        f"The ticket:\n{_text(detail)}"
    )


async def _last_hour(session: Session, arguments: dict[str, str], now: datetime) -> str:
    since = now - timedelta(hours=1)
    changed = await _run(session, "list_tickets", {"updated_since": iso(since), "limit": 50})
    checks = await _run(session, "latest_checks", {"failing_only": True})
    return (
        f"Say what changed on this vigie agent between {iso(since)} and {iso(now)}: tickets "
        "opened, acknowledged, resolved or closed, escalations, and the checks failing "
        "now. Use get_ticket for a ticket's history.\n\n"
        f"Tickets updated in the last hour:\n{_text(changed)}\n\nFailing checks:\n{_text(checks)}"
    )


PROMPTS: Sequence[_Prompt] = (
    _Prompt("triage_open_incidents", "Triage the open incidents and failing checks", (), _triage),
    _Prompt(
        "handover_summary",
        "Summarise one incident for a hand-over",
        (PromptArgument(name="ticket_id", description="the ticket to summarise", required=True),),
        _handover,
    ),
    _Prompt(
        "what_changed_last_hour",
        "What changed in the last hour: tickets and failing checks",
        (),
        _last_hour,
    ),
)


def _text(answer: dict[str, Any]) -> str:
    return json_bytes(answer).decode()


async def _run(session: Session, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    tool = next(tool for tool in TOOLS if tool.name == name)
    try:
        args = tool.arguments.model_validate(arguments)
    except ValidationError as exc:
        raise ToolFailure(validation_problem(exc).detail) from None
    return await tool.run(session, args)


def build_server(
    api: LocalApi,
    *,
    budget: int,
    version: str,
    clock: Callable[[], datetime],
    tools: Sequence[Tool] = TOOLS,
) -> Server[Any]:
    """The MCP server over `api`, offering the tools whose operations `api` has."""
    offered = [tool for tool in tools if all(api.offers(op) for op in tool.operations)]
    by_name = {tool.name: tool for tool in offered}
    prompts = {prompt.info.name: prompt for prompt in PROMPTS}

    def session(ctx: ServerRequestContext[Any, Any]) -> Session:
        return Session(api, _caller(ctx), budget)

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        principal = _caller(ctx).principal
        visible = [
            _tool_info(tool)
            for tool in offered
            if all(api.may(principal, op) for op in tool.operations)
        ]
        return ListToolsResult(tools=visible)

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
    ) -> CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            return _error(f"no tool {params.name[:200]}")
        current = session(ctx)
        try:
            args = tool.arguments.model_validate(params.arguments or {})
            answer = await tool.run(current, args)
        except (ValidationError, ToolFailure) as exc:
            detail = exc.detail if isinstance(exc, ToolFailure) else validation_problem(exc).detail
            _logged(tool, current, "refused")
            return _error(detail)
        _logged(tool, current, "ok")
        return CallToolResult(
            content=[TextContent(type="text", text=_text(answer))], structured_content=answer
        )

    async def list_resources(
        ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        resources = []
        if "latest_checks" in by_name:
            resources.append(
                Resource(
                    uri=CHECKS_URI,
                    name="checks",
                    title="Latest check results",
                    description="every check the agent runs, failing first, with findings",
                    mime_type=JSON,
                )
            )
        return ListResourcesResult(resources=resources)

    async def list_templates(
        ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        template = ResourceTemplate(
            uri_template="vigie://tickets/{id}",
            name="ticket",
            title="A ticket",
            description="one ticket in full, as get_ticket answers it",
            mime_type=JSON,
        )
        return ListResourceTemplatesResult(resource_templates=[template])

    async def read_resource(
        ctx: ServerRequestContext[Any, Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        uri = str(params.uri)
        found = TICKET_URI.fullmatch(uri)
        try:
            if found is not None:
                answer = await _run(session(ctx), "get_ticket", {"id": found.group(1)})
            elif uri == CHECKS_URI and "latest_checks" in by_name:
                answer = await _run(session(ctx), "latest_checks", {})
            else:
                raise MCPError(RESOURCE_NOT_FOUND, f"no resource {uri[:200]}")
        except ToolFailure as exc:
            raise MCPError(INVALID_PARAMS, exc.detail) from None
        return ReadResourceResult(
            contents=[TextResourceContents(uri=uri, mime_type=JSON, text=_text(answer))]
        )

    async def list_prompts(
        ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListPromptsResult:
        return ListPromptsResult(prompts=[prompt.info for prompt in PROMPTS])

    async def get_prompt(
        ctx: ServerRequestContext[Any, Any], params: GetPromptRequestParams
    ) -> GetPromptResult:
        prompt = prompts.get(params.name)
        if prompt is None:
            raise MCPError(INVALID_PARAMS, f"no prompt {params.name[:200]}")
        try:
            text = await prompt.make(session(ctx), dict(params.arguments or {}), clock())
        except ToolFailure as exc:
            raise MCPError(INVALID_PARAMS, exc.detail) from None
        return GetPromptResult(
            description=prompt.info.description,
            messages=[PromptMessage(role="user", content=TextContent(type="text", text=text))],
        )

    return Server(
        "vigie",
        version=version,
        title="vigie",
        instructions=_INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )
