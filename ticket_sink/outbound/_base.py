"""What every sink shares: the `Sink` interface, its configuration base and the one HTTP
POST that turns an answer into an `Outcome`.

A sink delivers one notification and reports how it went as a value; it never raises for
a receiver's failure, never retries on its own (the outbox does) and never logs secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import httpx
from pydantic import Field, field_validator, model_validator

from ticket_sink.model import Notification
from ticket_sink.outbound.retry import Outcome, outcome_of_error, outcome_of_status
from ticket_sink.outbound.templates import PARTS, Renderer, check_overrides, notification_context
from vocab import StrictModel

__all__ = [
    "IDEMPOTENCY_HEADER",
    "Envelope",
    "HttpSink",
    "Sink",
    "SinkConfig",
    "post_json",
]

# Receivers drop repeats by this header (the notification's stable id).
IDEMPOTENCY_HEADER = "Idempotency-Key"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SinkConfig(StrictModel):
    """Settings every sink has."""

    kind: ClassVar[str]

    name: str = Field(description="the sink's name, used by routes and shown on the ticket")
    timeout_seconds: float = Field(10.0, gt=0, le=300, description="time limit of one attempt")
    templates: dict[str, str] = Field(
        default_factory=dict,
        description="template overrides by part (e.g. subject, text, summary), optionally "
        "per event (subject.resolved); Jinja2, see docs/notifications.md",
    )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("a sink name is letters, digits, '_', '.', '-'")
        return name

    @model_validator(mode="after")
    def _templates_render(self) -> Self:
        check_overrides(self.template_kind, self.templates, PARTS[self.template_kind])
        return self

    @property
    def template_kind(self) -> str:
        """Which defaults of `templates.PARTS` this sink renders."""
        return self.kind

    def renderer(self) -> Renderer:
        return Renderer(self.template_kind, self.templates)

    def build(self, client: httpx.AsyncClient) -> Sink:
        """The sink this configures; HTTP sinks send through `client`."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Envelope:
    """One notification as a sink is asked to deliver it.

    `link` points at the ticket (empty without an external URL); `contacts` are the
    e-mail addresses of the ticket's escalation level.
    """

    notification: Notification
    link: str = ""
    contacts: tuple[str, ...] = ()

    def context(self) -> dict[str, Any]:
        return notification_context(self.notification, self.link)


class Sink(Protocol):
    name: str
    kind: str

    async def send(self, envelope: Envelope, now: datetime) -> Outcome:
        """Deliver `envelope` once; `now` dates the answer (for Retry-After dates)."""
        ...


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    timeout_seconds: float,
    now: datetime,
) -> Outcome:
    """POST `body` as JSON and judge the answer with the retry policy."""
    try:
        response = await client.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=timeout_seconds,
        )
    except httpx.HTTPError as exc:  # refused, reset, timed out, bad URL
        return outcome_of_error(exc)
    return outcome_of_status(response.status_code, response.headers, response.text, now)


ConfigT = TypeVar("ConfigT", bound=SinkConfig)


class HttpSink(Generic[ConfigT]):
    """A sink that POSTs one JSON body a notification through the app's HTTP client.

    Subclasses build the body; the idempotency header, the time limit and the judging of
    the answer are the same for every receiver, so they live here.
    """

    def __init__(self, config: ConfigT, client: httpx.AsyncClient) -> None:
        self.name = config.name
        self.kind = config.kind
        self._config = config
        self._client = client
        self._renderer = config.renderer()

    async def _post(
        self,
        url: str,
        body: bytes,
        envelope: Envelope,
        now: datetime,
        headers: Mapping[str, str] | None = None,
    ) -> Outcome:
        return await post_json(
            self._client,
            url,
            body,
            headers={**(headers or {}), IDEMPOTENCY_HEADER: envelope.notification.id},
            timeout_seconds=self._config.timeout_seconds,
            now=now,
        )
