"""The configuration's vocabulary as pydantic types: the strict model base, durations,
instants, host:port addresses and http(s) URLs (pydantic v2, strict).

Every package's configuration models are built from these, so a duration or a URL means
the same thing in a probe's target, a notification sink and the agent's own settings.
The rules themselves are plain functions in `vocab.text`. This module must never import
a package of vigie (they all import it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
)

from vocab.text import format_duration, http_url, parse_duration, split_host_port, time_zone

__all__ = [
    "READ_FILES",
    "BaseHttpUrl",
    "CheckUrl",
    "Duration",
    "HostPort",
    "HttpUrl",
    "HttpsUrl",
    "Instant",
    "PositiveDuration",
    "StrictModel",
    "TimeZoneName",
]


class StrictModel(BaseModel):
    """Base of every strict model (configuration, the API's requests and answers): unknown
    keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# An instant such as 2027-03-01 or 2027-03-01T12:00:00+01:00; without a zone, UTC.
Instant = Annotated[datetime, AfterValidator(_utc)]

# Validation context key: true to read every file a configuration names in full (`vigie
# config check`), not only to check that it is a readable regular file under its cap.
READ_FILES = "read_files"

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "duration: 30s, 5m, 1h30m, 250ms, or seconds as a number",
        }
    ),
]


def _longer_than_zero(seconds: float) -> float:
    # An interval of 0 would make the scheduler spin; a timeout of 0 fails every run.
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return seconds


PositiveDuration = Annotated[Duration, AfterValidator(_longer_than_zero)]


def _parse_host_port(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected host:port, for example 127.0.0.1:53 or [::1]:5353")
    split_host_port(value)
    return value


HostPort = Annotated[str, BeforeValidator(_parse_host_port)]

# A URL kept as written, surrounding spaces aside (pydantic's own HttpUrl would add a
# trailing slash to a bare host); `vocab.text.http_url` says what is accepted.
HttpUrl = Annotated[str, AfterValidator(http_url)]

# An IANA time zone name, checked against the system's time zone database.
TimeZoneName = Annotated[str, AfterValidator(time_zone)]

# A check's URL: shown wherever the check is (metrics, API, console), so no credentials.
CheckUrl = Annotated[str, AfterValidator(partial(http_url, credentials=False))]

# A checked TLS endpoint's URL: https only, no credentials.
HttpsUrl = Annotated[str, AfterValidator(partial(http_url, https=True, credentials=False))]

# A checked URL that paths are appended to (an SMP's): no query or fragment, no trailing
# slash, no credentials.
BaseHttpUrl = Annotated[str, AfterValidator(partial(http_url, base=True, credentials=False))]
