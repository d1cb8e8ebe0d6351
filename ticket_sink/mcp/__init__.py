"""The MCP interface for AI assistants: the API's operations as tools, resources and prompts.

`setup_mcp(app, operations, ...)` serves it at /mcp from the app that serves the API,
with the API's tokens and roles. Every tool goes through the API's own operations.
"""

from ticket_sink.mcp.dispatch import Caller, LocalApi, ToolFailure
from ticket_sink.mcp.http import MCP_PATH, McpSettings, setup_mcp
from ticket_sink.mcp.server import PROMPTS, build_server
from ticket_sink.mcp.tools import TOOLS, Tool, tool_table_markdown

__all__ = [
    "MCP_PATH",
    "PROMPTS",
    "TOOLS",
    "Caller",
    "LocalApi",
    "McpSettings",
    "Tool",
    "ToolFailure",
    "build_server",
    "setup_mcp",
    "tool_table_markdown",
]
