"""`vigie mcp`: the agent's MCP tools on stdio, for desktop assistants.

It serves MCP on stdin/stdout and passes every request to a running agent's /mcp endpoint
(URL from --url or VIGIE_URL, bearer token from VIGIE_TOKEN), so the tools, the roles, the
paging and the audit trail are the agent's own: nothing is decided here. The token is read
from the environment only (an argument would show in `ps` and shell history). It must
never print a token, and never write anything but MCP messages to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import TYPE_CHECKING, Any

from vigie.cli_args import EXIT_FAILURE, EXIT_OK, http_url
from vigie.ticket_cli import DEFAULT_URL

# The MCP SDK is imported when the command runs, not when `vigie --help` builds the parser.
if TYPE_CHECKING:
    import mcp_types as types
    from mcp import Client
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server

    Context = ServerRequestContext[Any, Any]

__all__ = ["add_mcp_command", "relay_server"]

# Tool calls are quick reads and writes; the connection itself may wait for a busy agent.
_TIMEOUT_SECONDS, _READ_TIMEOUT_SECONDS = 30.0, 120.0


def add_mcp_command(commands: Any) -> None:
    mcp = commands.add_parser(
        "mcp",
        help="serve a running agent's MCP tools on stdio (token from $VIGIE_TOKEN)",
        description="Serve the MCP tools of a running agent on stdin/stdout, for desktop "
        "assistants. The bearer token is read from VIGIE_TOKEN; see docs/mcp.md.",
    )
    mcp.add_argument(
        "--url",
        type=http_url,
        default=None,
        help=f"agent URL (default: $VIGIE_URL or {DEFAULT_URL})",
    )
    mcp.set_defaults(handler=_mcp)


def _mcp(args: argparse.Namespace) -> int:
    url = (args.url or os.environ.get("VIGIE_URL") or DEFAULT_URL).rstrip("/")
    token = os.environ.get("VIGIE_TOKEN") or None
    import asyncio

    from vigie.logs import configure_logging

    configure_logging("warning")  # on stderr: stdout carries the MCP messages alone
    return asyncio.run(serve_stdio(url, token))


async def serve_stdio(url: str, token: str | None) -> int:
    """Relay MCP between stdio and the agent at `url` until stdin closes."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.stdio import stdio_server

    timeout = httpx2.Timeout(_TIMEOUT_SECONDS, read=_READ_TIMEOUT_SECONDS)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    endpoint = f"{url}/mcp"
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=headers, timeout=timeout, trust_env=False)
        )
        try:
            upstream = await stack.enter_async_context(
                Client(streamable_http_client(endpoint, http_client=http))
            )
        except Exception as exc:
            print(f"vigie mcp: cannot open {endpoint}: {_reason(exc)}", file=sys.stderr)
            return EXIT_FAILURE
        server = relay_server(upstream)
        read_stream, write_stream = await stack.enter_async_context(stdio_server())
        await server.run(read_stream, write_stream, server.create_initialization_options())
    return EXIT_OK


def _reason(exc: BaseException) -> str:
    # anyio wraps a failure in a task group into an exception group: show the first cause.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return str(exc) or type(exc).__name__


def _cursor(params: types.PaginatedRequestParams | None) -> str | None:
    return None if params is None else params.cursor


def relay_server(upstream: Client) -> Server[Any]:
    """An MCP server answering each request with what `upstream` answers to it."""
    import mcp_types as types
    from mcp.server.lowlevel import Server

    async def list_tools(
        ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return await upstream.list_tools(cursor=_cursor(params))

    async def call_tool(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        result = await upstream.call_tool(params.name, params.arguments or {})
        assert isinstance(result, types.CallToolResult)  # the agent never asks for input
        return result

    async def list_resources(
        ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await upstream.list_resources(cursor=_cursor(params))

    async def list_templates(
        ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return await upstream.list_resource_templates(cursor=_cursor(params))

    async def read_resource(
        ctx: Context, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        return await upstream.read_resource(str(params.uri))

    async def list_prompts(
        ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return await upstream.list_prompts(cursor=_cursor(params))

    async def get_prompt(
        ctx: Context, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        return await upstream.get_prompt(params.name, dict(params.arguments or {}))

    info = upstream.server_info
    return Server(
        "vigie",
        version="" if info is None else info.version,
        instructions=upstream.instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )
