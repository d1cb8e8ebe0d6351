"""Templates: every default renders for every event and sink kind, overrides apply and
are checked at load, and the sandbox keeps templates away from Python internals."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from ticket_sink.model import NotificationEvent
from ticket_sink.outbound.templates import (
    PARTS,
    Renderer,
    check_overrides,
    notification_context,
    sample_notification,
)

LINK = "https://vigie.example/api/v1/tickets/T0EXAMPLE00"


@pytest.mark.parametrize("event", list(NotificationEvent), ids=str)
@pytest.mark.parametrize("kind", sorted(PARTS))
def test_every_default_template_renders_for_every_event(
    kind: str, event: NotificationEvent
) -> None:
    notification = sample_notification(event)
    renderer = Renderer(kind)
    for part in PARTS[kind]:
        text = renderer.render(part, notification_context(notification, LINK))
        assert notification.ticket.title in text or part == "description"
        if part in ("text", "html", "description"):
            assert notification.ticket.id in text
            assert LINK in text


def test_headlines_say_which_event_it_is() -> None:
    renderer = Renderer("webhook")
    summaries = {
        event: renderer.render("summary", notification_context(sample_notification(event), ""))
        for event in NotificationEvent
    }
    assert summaries[NotificationEvent.CREATED].startswith("New incident")
    assert summaries[NotificationEvent.RESOLVED].startswith("Resolved")
    assert summaries[NotificationEvent.ESCALATED].startswith("Escalated to level 2")
    assert len(set(summaries.values())) == len(NotificationEvent)


def test_html_is_escaped_and_text_is_not() -> None:
    notification = sample_notification(NotificationEvent.CREATED)
    context = notification_context(notification, "")
    context["ticket"]["title"] = "<script>alert(1)</script>"
    renderer = Renderer("email")
    assert "&lt;script&gt;" in renderer.render("html", context)
    assert "<script>" in renderer.render("text", context)


def test_overrides_win_most_specific_first() -> None:
    renderer = Renderer(
        "email",
        {"subject": "all {{ ticket.id }}", "subject.resolved": "done {{ ticket.id }}"},
    )
    context = notification_context(sample_notification(NotificationEvent.CREATED), "")
    assert renderer.render("subject", context) == "all T0EXAMPLE00"
    resolved = notification_context(sample_notification(NotificationEvent.RESOLVED), "")
    assert renderer.render("subject", resolved) == "done T0EXAMPLE00"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        pytest.param("{{ ticket.nonexistent }}", "has no attribute 'nonexistent'", id="undefined"),
        pytest.param("{{ misspelt }}", "'misspelt' is undefined", id="unknown-variable"),
        pytest.param("{% if %}", "template 'subject' for event created", id="syntax"),
    ],
)
def test_a_broken_override_is_a_load_error(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_overrides("email", {"subject": template}, PARTS["email"])


def test_the_sandbox_keeps_templates_from_python_internals() -> None:
    renderer = Renderer("webhook", {"summary": "{{ id.__class__.__mro__[1].__subclasses__() }}"})
    context = notification_context(sample_notification(NotificationEvent.CREATED), "")
    with pytest.raises(SecurityError):
        renderer.render("summary", context)
