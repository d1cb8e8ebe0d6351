"""The generic JSON webhook: the notification and its ticket, signed so receivers can
verify it came from vigie.

`X-Vigie-Signature: sha256=<hex>` is HMAC-SHA256 of the exact body bytes under the
configured secret; `Idempotency-Key` and the body's `id` carry the notification's stable
id. It must never send the secret itself, and never sign anything but the bytes it sends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from ticket_sink.codec import iso, ticket_to_dict
from ticket_sink.outbound._base import Envelope, HttpSink, SinkConfig
from ticket_sink.outbound.retry import Outcome
from vocab import HttpUrl, Secret

__all__ = ["SIGNATURE_HEADER", "WebhookSink", "WebhookSinkConfig", "sign", "webhook_body"]

SIGNATURE_HEADER = "X-Vigie-Signature"
# Bumped when a field changes meaning; receivers may branch on it.
BODY_VERSION = "1"


class WebhookSinkConfig(SinkConfig):
    kind: ClassVar[str] = "webhook"

    url: HttpUrl = Field(description="where the JSON is POSTed")
    secret: Secret | None = Field(
        None, description="key of the X-Vigie-Signature HMAC-SHA256 header; unset: unsigned"
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra HTTP headers (e.g. an API key's header)"
    )

    def build(self, client: httpx.AsyncClient) -> WebhookSink:
        return WebhookSink(self, client)


def sign(secret: SecretStr, body: bytes) -> str:
    """The signature header's value for `body`."""
    digest = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_body(envelope: Envelope, summary: str) -> dict[str, Any]:
    notification = envelope.notification
    return {
        "version": BODY_VERSION,
        "id": notification.id,
        "event": notification.event.value,
        "at": iso(notification.at),
        "summary": summary,
        "link": envelope.link,
        "children": notification.children,
        "detail": notification.detail,
        "ticket": ticket_to_dict(notification.ticket),
    }


class WebhookSink(HttpSink[WebhookSinkConfig]):
    async def send(self, envelope: Envelope, now: datetime) -> Outcome:
        summary = self._renderer.render("summary", envelope.context())
        body = json.dumps(webhook_body(envelope, summary), separators=(",", ":")).encode()
        headers = dict(self._config.headers)
        if self._config.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._config.secret, body)
        return await self._post(self._config.url, body, envelope, now, headers)
