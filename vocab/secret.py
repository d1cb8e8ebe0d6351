"""Secret values in the configuration: inline, from an environment variable, or from a file.

A secret is resolved once, when the configuration loads, so a missing variable or file is
a located configuration error rather than a failure at 3 a.m. Its value never appears in
`repr`, logs or `vigie config check` output. The agent's settings (store URL, API tokens)
and the notification sinks (passwords, signing keys, routing keys, webhook URLs) use it.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, SecretStr, WithJsonSchema

from vocab.files import FileRefused, read_regular_file
from vocab.text import http_url

__all__ = ["MAX_SECRET_FILE_BYTES", "Secret", "SecretHttpUrl", "resolve_secret"]

# A token, a password or a key is far under this.
MAX_SECRET_FILE_BYTES = 64 * 1024


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
                data = read_regular_file(name, MAX_SECRET_FILE_BYTES)
                return data.decode("utf-8").rstrip("\r\n")
            except FileRefused as exc:
                # A FIFO would wait for a writer forever and /dev/zero never ends.
                reason = (
                    f"larger than {MAX_SECRET_FILE_BYTES:,} bytes"
                    if exc.too_large
                    else "not a regular file"
                )
                raise ValueError(f"cannot read secret file {name}: {reason}") from None
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise ValueError(f"cannot read secret file {name}: {reason}") from None
            except UnicodeError as exc:
                raise ValueError(f"cannot read secret file {name}: not UTF-8 ({exc})") from None
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


def _secret_http_url(url: SecretStr) -> SecretStr:
    return SecretStr(http_url(url.get_secret_value()))


# A URL that is itself a secret (a chat webhook: whoever has it can post).
SecretHttpUrl = Annotated[Secret, AfterValidator(_secret_http_url)]
