"""The notifications configuration: a valid example loads, and each mistake is reported
with what is wrong (unknown sinks, bad matchers and time zones, templates that do not
render, a claim shorter than a sink's timeout, unknown keys)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ticket_sink.outbound.config import NotificationsConfig

HOOK = {"name": "hook", "url": "http://127.0.0.1:8080/hook"}
VALID: dict[str, Any] = {
    "external_url": "https://vigie.example.org",
    "sinks": {
        "email": [
            {
                "name": "mail",
                "host": "smtp.example.org",
                "from_address": "vigie@example.org",
                "password": {"env": "VIGIE_TEST_SMTP_PASSWORD"},
                "username": "vigie",
            }
        ],
        "webhook": [{**HOOK, "secret": "k"}],
        "chat": [{"name": "chat", "format": "teams", "url": "https://teams.example/hook"}],
        "pagerduty": [{"name": "pd", "routing_key": "R" * 32}],
        "alertmanager": [{"name": "am", "url": "http://127.0.0.1:9093"}],
    },
    "routes": [
        {"sinks": ["pd"], "severities": [1, 2], "matchers": ['zone=~".*peppol.*"']},
        {"sinks": ["mail", "chat"], "quiet_hours": "nights"},
    ],
    "quiet_hours": {
        "nights": {"time_zone": "Europe/Brussels", "windows": [{"start": "19:00", "end": "07:00"}]}
    },
    "escalation_contacts": {3: ["ops@example.org"]},
}


def test_a_full_configuration_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_TEST_SMTP_PASSWORD", "pw")
    config = NotificationsConfig.model_validate(VALID)
    assert [sink.name for sink in config.sinks.all()] == ["mail", "hook", "chat", "pd", "am"]
    assert config.sinks.email[0].password is not None
    assert "pw" not in repr(config)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param(
            {"sinks": {"webhook": [HOOK]}, "routes": [{"sinks": ["nope"]}]},
            "routes[0]: unknown sink nope",
            id="unknown-sink",
        ),
        pytest.param(
            {"sinks": {"webhook": [HOOK, HOOK]}}, "sink names must be unique: hook", id="dup"
        ),
        pytest.param(
            {"sinks": {"webhook": [HOOK]}, "routes": [{"sinks": ["hook"], "quiet_hours": "x"}]},
            "unknown quiet hours 'x'",
            id="unknown-quiet-hours",
        ),
        pytest.param(
            {"routes": [{"sinks": ["a"], "matchers": ["zone~x"]}]},
            "invalid matcher 'zone~x'",
            id="bad-matcher",
        ),
        pytest.param(
            {"routes": [{"sinks": ["a"], "matchers": ['zone=~"(x"']}]},
            "not a valid RE2 regular expression: missing ): (x",
            id="bad-regex",
        ),
        pytest.param(
            {
                "quiet_hours": {
                    "n": {
                        "time_zone": "Europe/Atlantis",
                        "windows": [{"start": "19:00", "end": "07:00"}],
                    }
                }
            },
            "unknown time zone 'Europe/Atlantis'",
            id="bad-zone",
        ),
        pytest.param(
            {"sinks": {"webhook": [{**HOOK, "templates": {"summary": "{{ nope }}"}}]}},
            "'nope' is undefined",
            id="bad-template",
        ),
        pytest.param(
            {"sinks": {"webhook": [{**HOOK, "url": "ftp://x"}]}},
            "expected an http:// or https:// URL",
            id="bad-url",
        ),
        pytest.param(
            {"sinks": {"chat": [{"name": "c", "format": "slack", "url": "hooks.slack.com/X"}]}},
            "expected an http:// or https:// URL",
            id="bad-chat-url",
        ),
        pytest.param(
            {"sinks": {"webhook": [{**HOOK, "timeout_seconds": 60}]}, "claim_seconds": 30},
            "claim_seconds (30) must exceed the slowest sink timeout (60)",
            id="claim-too-short",
        ),
        pytest.param({"escalation_contacts": {5: ["a@b"]}}, "levels are 1 to 4", id="level"),
        pytest.param(
            {"sinks": {"webhook": [{**HOOK, "colour": "red"}]}}, "Extra inputs", id="extra"
        ),
    ],
)
def test_mistakes_are_reported(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        NotificationsConfig.model_validate(settings)
    assert message in str(caught.value)
    assert "hooks.slack.com/X" not in str(caught.value).split("input_value")[0]
