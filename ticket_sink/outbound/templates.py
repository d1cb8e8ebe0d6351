"""Message text: default templates per event and sink kind, which operators may override.

Templates are Jinja2, rendered in a sandbox (an operator's template is configuration, and
the sandbox keeps it from reaching Python internals) with strict undefined variables (a
misspelt name is an error, never an empty string). Every override is rendered for every
event when the configuration loads (`check_overrides`), so a broken template is a
configuration error, not a silent notification failure at night. Rendering never does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from ticket_sink.codec import iso, ticket_to_dict
from ticket_sink.model import Notification, NotificationEvent, Severity, Ticket, TicketType

__all__ = [
    "PARTS",
    "Renderer",
    "check_overrides",
    "notification_context",
    "sample_notification",
]

# The parts each sink kind renders. `headline` is rendered first, for every kind, and
# the other parts see it as the variable `headline`.
PARTS: Mapping[str, tuple[str, ...]] = {
    "email": ("subject", "text", "html"),
    "webhook": ("summary",),
    "slack": ("text",),
    "mattermost": ("text",),
    "teams": ("text",),
    "pagerduty": ("summary",),
    "alertmanager": ("summary", "description"),
}

_HEADLINES: Mapping[NotificationEvent, str] = {
    NotificationEvent.CREATED: "New incident",
    NotificationEvent.REOPENED: "Incident reopened",
    NotificationEvent.ESCALATED: "Escalated to level {{ ticket.escalation_level }}",
    NotificationEvent.SLA_AT_RISK: "SLA at risk{% if detail %} ({{ detail }}){% endif %}",
    NotificationEvent.SLA_BREACHED: "SLA breached{% if detail %} ({{ detail }}){% endif %}",
    NotificationEvent.REMINDER: "Reminder: still {{ ticket.state }}",
    NotificationEvent.RESOLVED: "Resolved",
}

_FACTS = """\
Ticket:      {{ ticket.id }} ({{ ticket.state }})
Severity:    {{ ticket.severity }} ({{ severity_name }})
Service:     {{ service or "-" }}
Target:      {{ target or "-" }}
Escalation:  level {{ ticket.escalation_level }}
Opened:      {{ ticket.created_at }}
{% if children %}Grouped:     {{ children }} related ticket(s) hang under this one
{% endif %}{% if detail %}Detail:      {{ detail }}
{% endif %}{% if ticket.workaround %}Workaround:  {{ ticket.workaround }}
{% endif %}{% if ticket.resolution %}Resolution:  {{ ticket.resolution }}
{% endif %}"""

DEFAULTS: Mapping[str, str] = {
    **{f"headline.{event.value}": text for event, text in _HEADLINES.items()},
    "subject": "[vigie S{{ ticket.severity }}] {{ headline }}: {{ ticket.title }}",
    "summary": "{{ headline }}: {{ ticket.title }} (S{{ ticket.severity }}, {{ ticket.id }})",
    "text.email": "{{ headline }}: {{ ticket.title }}\n\n"
    + _FACTS
    + "{% if link %}\n{{ link }}\n{% endif %}\n-- \nnotification {{ id }}\n",
    # Markdown for Mattermost and Teams; Slack's mrkdwn marks bold with single stars.
    "text": "**{{ headline }}**: {{ ticket.title }}\n"
    "Severity {{ ticket.severity }} ({{ severity_name }}) · {{ service or '-' }}"
    "{% if children %} · {{ children }} related{% endif %}"
    "{% if link %}\n{{ link }}{% endif %}\nnotification {{ id }}",
    "text.slack": "*{{ headline }}*: {{ ticket.title }}\n"
    "Severity {{ ticket.severity }} ({{ severity_name }}) · {{ service or '-' }}"
    "{% if children %} · {{ children }} related{% endif %}"
    "{% if link %}\n{{ link }}{% endif %}\nnotification {{ id }}",
    "description": _FACTS + "{% if link %}\n{{ link }}{% endif %}",
    "html": """\
<h2>{{ headline }}: {{ ticket.title }}</h2>
<table>
<tr><th align="left">Ticket</th><td>{{ ticket.id }} ({{ ticket.state }})</td></tr>
<tr><th align="left">Severity</th><td>{{ ticket.severity }} ({{ severity_name }})</td></tr>
<tr><th align="left">Service</th><td>{{ service or "-" }}</td></tr>
<tr><th align="left">Target</th><td>{{ target or "-" }}</td></tr>
<tr><th align="left">Escalation</th><td>level {{ ticket.escalation_level }}</td></tr>
<tr><th align="left">Opened</th><td>{{ ticket.created_at }}</td></tr>
{% if children %}<tr><th align="left">Grouped</th><td>{{ children }} related ticket(s)</td></tr>
{% endif %}{% if detail %}<tr><th align="left">Detail</th><td>{{ detail }}</td></tr>
{% endif %}{% if ticket.workaround %}<tr><th align="left">Workaround</th>
<td>{{ ticket.workaround }}</td></tr>
{% endif %}</table>
{% if link %}<p><a href="{{ link }}">Open the ticket</a></p>
{% endif %}<p style="color:#888">notification {{ id }}</p>
""",
}


def notification_context(notification: Notification, link: str) -> dict[str, Any]:
    """What every template sees (the ticket as the JSON the API shows)."""
    ticket = notification.ticket
    return {
        "id": notification.id,
        "event": notification.event.value,
        "at": iso(notification.at),
        "ticket": ticket_to_dict(ticket),
        "severity_name": ticket.severity.name.lower(),
        "service": ticket.labels.get("service", ""),
        "target": ticket.labels.get("target", ""),
        "children": notification.children,
        "detail": notification.detail,
        "link": link,
    }


class Renderer:
    """Renders one sink's parts: its overrides first, then the defaults.

    A part is looked up as `part.kind.event`, `part.kind`, `part.event`, `part`, so an
    override or default can be as general or as specific as needed.
    """

    def __init__(self, kind: str, overrides: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._overrides = dict(overrides or {})
        self._text = SandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
        self._html = SandboxedEnvironment(
            undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True
        )
        self._compiled: dict[tuple[str, bool], Template] = {}

    def render(self, part: str, context: Mapping[str, Any]) -> str:
        """The text of `part`; raises jinja2.TemplateError when a template is broken."""
        if "headline" not in context:
            context = {**context, "headline": self._render("headline", context).strip()}
        return self._render(part, context)

    def _render(self, part: str, context: Mapping[str, Any]) -> str:
        source = self._source(part, str(context["event"]))
        key = (source, part == "html")
        template = self._compiled.get(key)
        if template is None:
            environment = self._html if part == "html" else self._text
            template = self._compiled[key] = environment.from_string(source)
        return template.render(context)

    def _source(self, part: str, event: str) -> str:
        keys = (f"{part}.{self.kind}.{event}", f"{part}.{self.kind}", f"{part}.{event}", part)
        for table in (self._overrides, DEFAULTS):
            for key in keys:
                if key in table:
                    return table[key]
        raise TemplateError(f"no template for {part!r}")


def sample_notification(event: NotificationEvent) -> Notification:
    """A notification with every field filled, to try templates on."""
    moment = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    ticket = Ticket(
        id="T0EXAMPLE00",
        fingerprint="0" * 16,
        title="sml: name server ns1.example.org does not answer",
        type=TicketType.INCIDENT,
        severity=Severity.MAJOR,
        created_at=moment,
        labels={"service": "sml", "target": "ns1.example.org", "alertname": "DnsDown"},
        workaround="query the second name server",
    )
    return Notification(
        "00000000-0000-0000-0000-000000000000",
        event,
        ticket,
        moment,
        children=3,
        detail="resolution",
    )


def check_overrides(kind: str, overrides: Mapping[str, str], parts: Iterable[str]) -> None:
    """Render every part of `kind` for every event with `overrides`; a template that
    does not compile or render raises ValueError naming it."""
    renderer = Renderer(kind, overrides)
    for event in NotificationEvent:
        context = notification_context(sample_notification(event), "https://vigie.example/t")
        for part in parts:
            try:
                renderer.render(part, context)
            except TemplateError as exc:
                raise ValueError(f"template {part!r} for event {event.value}: {exc}") from exc
