"""The API's request and response bodies, as pydantic models.

Requests are validated with them; `/openapi.json` is generated from them, so the document
and the implementation cannot disagree (schemathesis checks responses against it). Responses
are built by `views` from the codec's spelling and only described here: validating every
response would cost time on the hottest path for no gain. Nothing here does I/O.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from ticket_sink.model import (
    CloseReason,
    EscalationLevel,
    Severity,
    TicketState,
    TicketType,
)

__all__ = [
    "MAX_EVENT_ID",
    "PUBLIC_ACTIONS",
    "AlertTime",
    "CommentCreate",
    "CommentOut",
    "DeliveryOut",
    "EqualityMatcher",
    "EventOut",
    "EventQuery",
    "IsoTime",
    "KnownErrorCreate",
    "KnownErrorFromTicket",
    "KnownErrorList",
    "KnownErrorOut",
    "KnownErrorWithWorkaround",
    "MasterLink",
    "MatcherIn",
    "NotificationList",
    "NotificationOut",
    "ProblemOut",
    "RegexMatcher",
    "ReportOut",
    "ReportQuery",
    "SeverityIn",
    "SilenceCreate",
    "SilenceList",
    "SilenceOut",
    "SilenceQuery",
    "SlaClockOut",
    "SlaOut",
    "TicketCreate",
    "TicketDetail",
    "TicketListQuery",
    "TicketOut",
    "TicketPage",
    "TicketSummary",
    "Transition",
    "WorkaroundOut",
]

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The actions people and agents may ask for; reminders and occurrences are the system's.
PublicAction = Literal[
    "acknowledge",
    "start",
    "hold",
    "resume",
    "resolve",
    "reject_resolution",
    "close",
    "escalate",
    "deescalate",
    "reassign",
]
PUBLIC_ACTIONS: tuple[PublicAction, ...] = get_args(PublicAction)

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


class Strict(BaseModel):
    """Unknown fields are errors (in requests) and never appear (in responses)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- responses ---------------------------------------------------------------------------


class TicketOut(Strict):
    """A ticket as `ticket_sink.codec.ticket_to_dict` spells it. Times are UTC ISO 8601."""

    id: str
    fingerprint: str = Field(description="hash of the alert's labels; empty for reported tickets")
    title: str
    type: TicketType
    severity: Severity = Field(description="1 blocking, 2 major, 3 minor, 4 info")
    state: TicketState
    labels: dict[str, str]
    master_id: str | None
    refers_to: str | None = Field(description="the closed ticket this one is a recurrence of")
    assignee_group: str
    escalation_level: EscalationLevel
    created_at: AwareDatetime
    acknowledged_at: AwareDatetime | None
    resolved_at: AwareDatetime | None
    closed_at: AwareDatetime | None
    close_reason: CloseReason | None
    resolution: str | None
    known_error_id: str | None
    workaround: str | None
    occurrences: int
    last_seen: AwareDatetime | None
    on_hold_since: AwareDatetime | None
    pauses: list[tuple[AwareDatetime, AwareDatetime]]
    reminders_sent: int
    sla_marks: list[str]


class TicketPage(Strict):
    items: list[TicketOut]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page. A page may "
        "hold fewer than `limit` items before the end when label filters skip tickets."
    )


class TicketSummary(Strict):
    id: str
    title: str
    state: TicketState
    severity: Severity
    created_at: AwareDatetime


class EventOut(Strict):
    """One audit event: who changed which field of which ticket, when, from what to what."""

    id: int = Field(description="orders every change of every ticket; the event stream cursor")
    ticket_id: str
    actor: str
    at: AwareDatetime
    action: str
    field: str
    before: str | None
    after: str | None


class CommentOut(Strict):
    author: str
    at: AwareDatetime
    text: str


class SlaClockOut(Strict):
    target_seconds: float
    due: AwareDatetime | None = Field(description="null while paused with time left")
    elapsed_seconds: float
    remaining_seconds: float = Field(description="negative once the target is missed")
    running: bool
    met: bool
    at_risk: bool
    breached: bool


class SlaOut(Strict):
    """Both SLA clocks at the time of the request; null for a best-effort clock."""

    response: SlaClockOut | None
    resolution: SlaClockOut | None


class WorkaroundOut(Strict):
    known_error_id: str | None
    text: str


class TicketDetail(Strict):
    ticket: TicketOut
    children: list[TicketSummary]
    history: list[EventOut] = Field(description="the newest 200 audit events, oldest first")
    comments: list[CommentOut]
    sla: SlaOut
    workaround: WorkaroundOut | None
    allowed_actions: list[PublicAction]


class EqualityMatcher(Strict):
    name: LabelName
    op: Literal["=", "!="]
    value: LabelValue


class RegexMatcher(Strict):
    """The regex (RE2 syntax, as in Alertmanager) must match the whole label value."""

    name: LabelName
    op: Literal["=~", "!~"]
    value: Annotated[str, Field(max_length=1000, json_schema_extra={"format": "regex"})]


MatcherIn = Annotated[EqualityMatcher | RegexMatcher, Field(discriminator="op")]


class KnownErrorOut(Strict):
    id: str
    matchers: list[MatcherIn]
    workaround: str
    created_at: AwareDatetime
    created_by: str


class KnownErrorList(Strict):
    items: list[KnownErrorOut]


class ReportOut(Strict):
    """Tickets created in `[since, until)`: counts, mean times and SLA outcomes."""

    since: AwareDatetime
    until: AwareDatetime
    total: int
    mtta_seconds: float | None = Field(description="mean time to acknowledge")
    mttr_seconds: float | None = Field(description="mean time to resolve")
    sla_met: int
    sla_breached: int
    sla_compliance: float | None = Field(description="met / (met + breached)")
    by_severity: dict[str, int]
    by_state: dict[str, int]
    by_type: dict[str, int]
    by_service: dict[str, int]


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = Field(None, description="the offending input, dotted")
    errors: list[dict[str, str]] | None = Field(None, description="every invalid field")


# -- requests ----------------------------------------------------------------------------


class TicketCreate(Strict):
    """A ticket a person or a first-level desk reports, as a service desk's form asks."""

    title: Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)] = Field(
        description="one line"
    )
    description: Text = Field(description="what happens, since when, who is affected")
    type: TicketType
    severity: SeverityIn = Field(description="1 blocking, 2 major, 3 minor, 4 info")
    labels: Labels = Field(
        default_factory=dict,
        description="e.g. service, target: used by filters and the known-error base",
    )
    assignee_group: Annotated[str, Field(max_length=200)] = ""
    reporter: Name | None = Field(
        None, description="on whose behalf (default: the token's name, who is the audit actor)"
    )

    @field_validator("title", "description")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return value.strip(" \t\n\r\f\v")


class _Action(Strict):
    pass


class Acknowledge(_Action):
    action: Literal["acknowledge"]


class Start(_Action):
    action: Literal["start"]


class Hold(_Action):
    action: Literal["hold"]


class Resume(_Action):
    action: Literal["resume"]


class Resolve(_Action):
    action: Literal["resolve"]
    resolution: Text = Field(description="what solved it, or the workaround given")


class RejectResolution(_Action):
    action: Literal["reject_resolution"]


class Close(_Action):
    action: Literal["close"]
    reason: CloseReason


class Escalate(_Action):
    action: Literal["escalate"]
    level: LevelIn | None = Field(None, description="default: one level up")


class Deescalate(_Action):
    action: Literal["deescalate"]
    level: LevelIn | None = Field(None, description="default: one level down")


class Reassign(_Action):
    action: Literal["reassign"]
    group: Name


Transition = Annotated[
    Acknowledge
    | Start
    | Hold
    | Resume
    | Resolve
    | RejectResolution
    | Close
    | Escalate
    | Deescalate
    | Reassign,
    Field(discriminator="action"),
]


class CommentCreate(Strict):
    text: Text


class MasterLink(Strict):
    master_id: TicketId


Matchers = Annotated[list[MatcherIn], Field(min_length=1, max_length=32)]


class KnownErrorWithWorkaround(Strict):
    """Tickets whose labels match every matcher get this workaround."""

    matchers: Matchers
    workaround: Text


class KnownErrorFromTicket(Strict):
    """The entry's workaround is the resolution of ticket `from_ticket`."""

    matchers: Matchers
    from_ticket: TicketId


KnownErrorCreate = KnownErrorWithWorkaround | KnownErrorFromTicket


class TicketListQuery(Strict):
    # Bounds keep every valid query within the 8 KiB request line a server accepts.
    state: list[TicketState] = Field(default_factory=list, max_length=6, description="any of")
    severity: list[Severity] = Field(default_factory=list, max_length=4)
    type: list[TicketType] = Field(default_factory=list, max_length=3)
    label: list[Annotated[str, Field(pattern=MATCHER_PATTERN, max_length=100)]] = Field(
        default_factory=list,
        max_length=4,
        description="label matchers, all must hold: name=value, name!=value, name=~regex, "
        "name!~regex",
    )
    master: TicketId | None = Field(
        None, description="children of this ticket, or `none` for tickets under no master"
    )
    updated_since: IsoTime | None = None
    # No NUL: SQLite's string functions stop at one, so it would match every title.
    text: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]+$")] | None = Field(
        None, description="case-insensitive substring of the title"
    )
    cursor: Annotated[str, Field(pattern=r"^[0-9]{1,16}\.[A-Za-z0-9]{1,64}$")] | None = Field(
        None, description="next_cursor of the previous page"
    )
    limit: int = Field(50, ge=1, le=200)


# An event id is a 64-bit signed integer in the store.
MAX_EVENT_ID = 2**63 - 1


class EventQuery(Strict):
    after: int | None = Field(
        None,
        ge=0,
        le=MAX_EVENT_ID,
        description="stream events after this id (the Last-Event-ID header wins); "
        "default: only changes from now on",
    )


class ReportQuery(Strict):
    since: IsoTime
    until: IsoTime | None = Field(None, description="default: now; before since: an empty report")


# -- notifications and silences -------------------------------------------------------------


class DeliveryOut(Strict):
    sink: str
    state: Literal["pending", "held", "delivered", "failed"]
    attempts: int
    next_attempt_at: AwareDatetime | None
    last_error: str | None
    updated_at: AwareDatetime


class NotificationOut(Strict):
    """A notification of the ticket; no deliveries and no `routed_at`: still waiting."""

    id: str = Field(description="stable: every sink sends it, so receivers drop repeats")
    event: str
    at: AwareDatetime
    due_at: AwareDatetime
    routed_at: AwareDatetime | None
    deliveries: list[DeliveryOut]


class NotificationList(Strict):
    items: list[NotificationOut]


class SilenceCreate(Strict):
    """Hold the notifications of tickets whose labels match every matcher until `ends_at`."""

    matchers: Matchers
    ends_at: IsoTime
    starts_at: IsoTime | None = Field(None, description="default: now")
    comment: str = Field("", max_length=2000)


class SilenceOut(Strict):
    id: str
    matchers: list[MatcherIn]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: str
    comment: str


class SilenceList(Strict):
    items: list[SilenceOut]


class SilenceQuery(Strict):
    include_expired: bool = Field(False, description="also the silences that have ended")
