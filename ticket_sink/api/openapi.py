"""The OpenAPI 3.1 document, generated from the operation table and its pydantic models.

Nothing in it is written by hand: paths, parameters, bodies, responses and security come
from the same `Operation`s that register the routes, so the document cannot describe an
endpoint that does not exist or miss one that does. Pure: it never reads the store.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, TypeAdapter

from ticket_sink.api.event_models import EventOut
from ticket_sink.api.fields import ProblemOut
from ticket_sink.api.framework import Operation
from ticket_sink.api.problems import PROBLEM_CONTENT_TYPE

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{([^}]+)\}")


class _Schemas:
    """The components' schemas, gathered from every model an operation names."""

    def __init__(self) -> None:
        self.definitions: dict[str, Any] = {}

    def add(self, annotation: Any, mode: str) -> dict[str, Any]:
        """A schema referring to `annotation` (its definitions move to the components)."""
        schema = TypeAdapter(annotation).json_schema(ref_template=_REF, mode=mode)  # type: ignore[arg-type]
        for name, definition in schema.pop("$defs", {}).items():
            self._define(name, definition)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            self._define(annotation.__name__, schema)
            return {"$ref": _REF.format(model=annotation.__name__)}
        return schema

    def _define(self, name: str, definition: dict[str, Any]) -> None:
        known = self.definitions.setdefault(name, definition)
        if known != definition:
            raise ValueError(f"two different schemas named {name} in the OpenAPI document")


def _parameters(operation: Operation, schemas: _Schemas) -> list[dict[str, Any]]:
    # An operation may describe a path parameter itself (a participant identifier is no
    # ticket id); the others are plain ids.
    declared = {p["name"] for p in operation.parameters if p.get("in") == "path"}
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 64},
        }
        for name in _PATH_PARAM.findall(operation.path)
        if name not in declared
    ]
    if operation.query is not None:
        schema = operation.query.model_json_schema(ref_template=_REF, mode="validation")
        for name, definition in schema.pop("$defs", {}).items():
            schemas._define(name, definition)
        required = set(schema.get("required", ()))
        for name, prop in schema["properties"].items():
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
            }
            if "description" in prop:
                parameter["description"] = prop["description"]
            if prop.get("type") == "array":
                parameter.update(style="form", explode=True)
            parameters.append(parameter)
    parameters.extend(operation.parameters)
    return parameters


EVENT_STREAM = "text/event-stream"
# JSON Schema cannot describe a stream that never ends; its text format, then, in words.
EVENT_STREAM_FORMAT = (
    "Server-Sent Events, never ending: a `retry:` line first, then per ticket change "
    "`id: <event id>`, `event: ticket` and `data: <one EventOut as JSON>`, a blank line after "
    "each; comment lines (`: keep-alive`) while nothing changes. Resume with the "
    "Last-Event-ID header or `after`."
)


def _responses(operation: Operation, schemas: _Schemas) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, kind in operation.responses.items():
        description = HTTPStatus(status).phrase
        if isinstance(kind, str):
            schema = {"type": "string"}
            if kind == EVENT_STREAM:
                schema["description"] = EVENT_STREAM_FORMAT
            content = {kind: {"schema": schema}}
        else:
            content = {"application/json": {"schema": schemas.add(kind, "serialization")}}
        responses[str(status)] = {"description": description, "content": content}
    problem = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": _REF.format(model="Problem")}}}
    for status in operation.errors:
        responses[str(status)] = {"description": HTTPStatus(status).phrase, "content": problem}
    return responses


def _security(operation: Operation, anonymous_read: bool) -> list[dict[str, list[str]]]:
    if operation.role is None:
        return []
    if anonymous_read and operation.role == "viewer":
        return [{"bearer": []}, {}]
    return [{"bearer": []}]


def openapi_document(
    operations: Sequence[Operation],
    *,
    prefix: str,
    title: str,
    version: str,
    anonymous_read: bool,
) -> dict[str, Any]:
    schemas = _Schemas()
    schemas._define("Problem", ProblemOut.model_json_schema(ref_template=_REF))
    # Named by the event stream's description: each event's `data`.
    schemas.add(EventOut, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        entry: dict[str, Any] = {
            "operationId": operation.operation_id,
            "summary": operation.summary,
            "tags": list(operation.tags),
            "security": _security(operation, anonymous_read),
            "parameters": _parameters(operation, schemas),
            "responses": _responses(operation, schemas),
        }
        if operation.description:
            entry["description"] = operation.description
        if operation.role is not None:
            entry["x-vigie-role"] = str(operation.role)
        if operation.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": schemas.add(operation.body, "validation")}
                },
            }
        paths.setdefault(operation.path, {})[operation.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Tickets, alerts and events of a vigie agent. Errors are RFC 9457 "
            "problem details; times are ISO 8601 in UTC.",
        },
        "servers": [{"url": prefix}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.definitions.items())),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token configured under api.tokens (its role decides "
                    "what it may do: viewer, responder, admin, ingest)",
                }
            },
        },
    }
