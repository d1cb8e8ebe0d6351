"""Secret values in the configuration: inline, from an environment variable, or from a file.

A secret is resolved once, when the configuration loads, so a missing variable or file is
a located configuration error rather than a failure at 3 a.m. Its value never appears in
`repr`, logs or `vigie config check` output. It lives in `ticket_sink` because both the
store URL and the notification sinks (passwords, signing keys, routing keys) need it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr, WithJsonSchema

__all__ = ["Secret", "resolve_secret"]


def resolve_secret(value: Any) -> str:
    """The secret's text from `"inline"`, `{env: NAME}` or `{file: PATH}`."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((source, name),) = value.items()
        if source == "env" and isinstance(name, str):
            try:
                return os.environ[name]
            except KeyError:
                raise ValueError(f"environment variable {name} is not set") from None
        if source == "file" and isinstance(name, str):
            try:
                # Files written by editors and secret managers end with a newline.
                return Path(name).read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeError) as exc:
                raise ValueError(f"cannot read secret file {name}: {exc}") from exc
    raise ValueError("a secret is a string, {env: VARIABLE} or {file: PATH}")


Secret = Annotated[
    SecretStr,
    BeforeValidator(resolve_secret),
    WithJsonSchema(
        {
            "description": "a secret: inline text, {env: VARIABLE} or {file: PATH}",
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {"env": {"type": "string"}},
                    "required": ["env"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"file": {"type": "string"}},
                    "required": ["file"],
                    "additionalProperties": False,
                },
            ],
        }
    ),
]
