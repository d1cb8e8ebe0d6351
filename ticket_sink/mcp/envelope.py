"""The JSON-RPC envelope of a message posted to /mcp, checked where the SDK is lenient.

The SDK takes a message whose `id` is null, a fraction, a boolean or an object for a
notification (answered 202, its request silently dropped), and answers a batch, a
non-object or a wrong `jsonrpc` version with "invalid params" (-32602) and pydantic's
whole report of the input. JSON-RPC 2.0 calls each of these an invalid request (-32600),
and MCP ids are strings or integers. `refusal` names what is wrong in one line; what it
does not refuse goes on to the SDK, which answers bodies that are not JSON (-32700). It
must never echo the client's input back.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from aiohttp import web

__all__ = ["INVALID_REQUEST", "refusal", "refusal_response"]

INVALID_REQUEST = -32600


def refusal(body: bytes) -> str | None:
    """Why the message in `body` is no valid JSON-RPC 2.0 message, or None."""
    try:
        # The SDK's parser, so that both read a body alike; the SDK answers its errors.
        message: Any = pydantic_core.from_json(body)
    except ValueError:
        return None
    if isinstance(message, list):
        return "a batch is not accepted: send one JSON-RPC message per POST"
    if not isinstance(message, dict):
        return "a JSON-RPC message is an object"
    if message.get("jsonrpc") != "2.0":
        return 'a JSON-RPC message has "jsonrpc": "2.0"'
    if "method" not in message:
        if "id" in message and ("result" in message or "error" in message):
            return None  # a response, whose id may be null (JSON-RPC 2.0, 5.1)
        return "a message has a method (a request or notification) or a result or error"
    if not isinstance(message["method"], str):
        return "a method is a string"
    identifier = message.get("id", "")
    if isinstance(identifier, bool) or not isinstance(identifier, str | int):
        return "a request id is a string or an integer"
    return None


def refusal_response(reason: str) -> web.Response:
    """The SDK's own shape for a message it cannot take: 400, an error without an id."""
    return web.json_response(
        {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": reason}},
        status=400,
    )
