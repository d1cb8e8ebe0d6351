"""Chat webhooks: the payloads Slack and Mattermost incoming webhooks and Microsoft Teams
workflows (Adaptive Cards) accept.

The text comes from the `text` template (Markdown; Slack's own mrkdwn for Slack). Chat
services have no idempotency of their own, so the notification id is shown in the message
and sent as `Idempotency-Key`. It must never put the webhook URL (a secret: whoever has it
can post) in a message, a log or an error.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from ticket_sink.outbound._base import Envelope, HttpSink, SinkConfig
from ticket_sink.outbound.retry import Outcome, Verdict
from vocab import SecretHttpUrl

__all__ = ["ChatSink", "ChatSinkConfig", "chat_payload"]

ChatFormat = Literal["slack", "mattermost", "teams"]


class ChatSinkConfig(SinkConfig):
    kind: ClassVar[str] = "chat"

    format: ChatFormat = Field(description="which service's webhook format to send")
    url: SecretHttpUrl = Field(
        description="the incoming webhook URL (a secret: whoever has it can post)"
    )
    username: str | None = Field(
        None, description="name the message is posted as (Slack, Mattermost)"
    )
    channel: str | None = Field(
        None, description="channel to post in, if the webhook allows it (Slack, Mattermost)"
    )

    @property
    def template_kind(self) -> str:
        return self.format

    def build(self, client: httpx.AsyncClient) -> ChatSink:
        return ChatSink(self, client)


def chat_payload(config: ChatSinkConfig, envelope: Envelope, text: str) -> dict[str, Any]:
    notification = envelope.notification
    if config.format == "teams":
        headline, _, rest = text.partition("\n")
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": headline, "weight": "Bolder", "wrap": True},
                {"type": "TextBlock", "text": rest, "wrap": True},
            ],
        }
        if envelope.link:
            card["actions"] = [
                {"type": "Action.OpenUrl", "title": "Open the ticket", "url": envelope.link}
            ]
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }
    payload: dict[str, Any] = {"text": text}
    if config.format == "slack":
        payload["blocks"] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"notification `{notification.id}`"}],
            },
        ]
    if config.username:
        payload["username"] = config.username
    if config.channel:
        payload["channel"] = config.channel
    return payload


class ChatSink(HttpSink[ChatSinkConfig]):
    async def send(self, envelope: Envelope, now: datetime) -> Outcome:
        text = self._renderer.render("text", envelope.context())
        body = json.dumps(chat_payload(self._config, envelope, text)).encode()
        url = self._config.url.get_secret_value()
        outcome = await self._post(url, body, envelope, now)
        if outcome.verdict is Verdict.DELIVERED:
            return outcome
        # httpx's messages quote the URL, which is the secret here.
        return Outcome(
            outcome.verdict, outcome.reason.replace(url, "<webhook url>"), outcome.retry_after
        )
