"""The field types and the matchers that the API's request and response bodies of every
resource share, and the problem body every error answers with; their base model is vocab's
`StrictModel` (unknown fields are errors in requests and never appear in responses).

Requests are validated with the models built from these; `/openapi.json` is generated from
them, so the document and the implementation cannot disagree (schemathesis checks responses
against it). Responses are built by `views` from the codec's spelling and only described
by the models: validating every response would cost time on the hottest path for no gain.
Nothing here does I/O.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    WithJsonSchema,
)

from ticket_sink.model import EscalationLevel, Severity
from vocab import StrictModel

__all__ = [
    "EARLIEST",
    "LABEL_NAME",
    "LATEST",
    "MATCHER_PATTERN",
    "MAX_LABELS",
    "NOT_BLANK",
    "AlertTime",
    "EqualityMatcher",
    "IsoTime",
    "LabelName",
    "LabelValue",
    "Labels",
    "LevelIn",
    "MatcherIn",
    "Matchers",
    "Name",
    "ProblemOut",
    "RegexMatcher",
    "SeverityIn",
    "Text",
    "TicketId",
    "in_time_range",
]


LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# Some character other than ASCII whitespace; one class that Python, Rust and ECMA regexes
# (the server, pydantic, OpenAPI clients) all read the same way.
NOT_BLANK = r"[^ \t\n\r\f\v]"


Text = Annotated[str, Field(min_length=1, max_length=20_000, pattern=NOT_BLANK)]


LabelName = Annotated[str, Field(pattern=LABEL_NAME.pattern, max_length=200)]


LabelValue = Annotated[str, Field(max_length=1000)]


MATCHER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(=~|!~|!=|=)"


MAX_LABELS = 64


# pydantic would describe the key pattern with patternProperties, which lets any other key
# through: propertyNames says what the validator does.
Labels = Annotated[
    dict[LabelName, LabelValue],
    Field(max_length=MAX_LABELS),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_LABELS,
            "propertyNames": {"pattern": LABEL_NAME.pattern, "maxLength": 200},
            "additionalProperties": {"type": "string", "maxLength": 1000},
        }
    ),
]


def _iso_time(value: object) -> datetime:
    """Only ISO 8601 text is a time here: pydantic alone would read "1.5" as a Unix time."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not an ISO 8601 time")


# What the store, the SLA arithmetic and the reports can hold and compute with: a time
# outside is a client's mistake (a 400), never a store failure.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def in_time_range(value: datetime) -> datetime:
    """`value` in UTC, or ValueError if it is outside [EARLIEST, LATEST)."""
    try:
        utc = value.astimezone(UTC)  # an extreme offset can carry it past year 9999
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(
            f"{value.isoformat()} is out of range: times must fall between "
            f"{EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"
        )
    return utc


# An ISO 8601 instant with its UTC offset (2025-03-30T01:00:00Z) that the store can hold.
IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_time), AfterValidator(in_time_range)]


# An instant of an incoming alert: judged alert by alert (`alert_models`), so one alert
# with an odd time does not refuse the others of its batch.
AlertTime = Annotated[AwareDatetime, BeforeValidator(_iso_time)]


def _not_a_boolean(value: object) -> object:
    # JSON `true` equals 1 to Python, and an IntEnum takes it even in strict mode.
    if isinstance(value, bool):
        raise ValueError(f"expected a number, not {str(value).lower()}")
    return value


SeverityIn = Annotated[Severity, BeforeValidator(_not_a_boolean)]


LevelIn = Annotated[EscalationLevel, BeforeValidator(_not_a_boolean)]


Name = Annotated[str, Field(min_length=1, max_length=200)]


TicketId = Annotated[str, Field(min_length=1, max_length=64)]


class EqualityMatcher(StrictModel):
    name: LabelName
    op: Literal["=", "!="]
    value: LabelValue


class RegexMatcher(StrictModel):
    """The regex (RE2 syntax, as in Alertmanager) must match the whole label value."""

    name: LabelName
    op: Literal["=~", "!~"]
    value: Annotated[str, Field(max_length=1000, json_schema_extra={"format": "regex"})]


MatcherIn = Annotated[EqualityMatcher | RegexMatcher, Field(discriminator="op")]


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = Field(None, description="the offending input, dotted")
    errors: list[dict[str, str]] | None = Field(None, description="every invalid field")


Matchers = Annotated[list[MatcherIn], Field(min_length=1, max_length=32)]
