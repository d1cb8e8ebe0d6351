"""The bodies of the tickets resource: a ticket, a page of them, its detail (history,
comments, SLA clocks), and what a client sends to create, change, comment on or link one.
Nothing here does I/O.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, Field, field_validator

from ticket_sink.api.event_models import EventOut
from ticket_sink.api.fields import (
    MATCHER_PATTERN,
    NOT_BLANK,
    IsoTime,
    Labels,
    LevelIn,
    Name,
    SeverityIn,
    Text,
    TicketId,
)
from ticket_sink.lifecycle import TransitionArguments
from ticket_sink.model import CloseReason, EscalationLevel, Severity, TicketState, TicketType
from vocab import StrictModel

__all__ = [
    "PUBLIC_ACTIONS",
    "Acknowledge",
    "Close",
    "CommentCreate",
    "CommentOut",
    "Deescalate",
    "Escalate",
    "Hold",
    "MasterLink",
    "PublicAction",
    "Reassign",
    "RejectResolution",
    "Resolve",
    "Resume",
    "SlaClockOut",
    "SlaOut",
    "Start",
    "TicketCreate",
    "TicketDetail",
    "TicketListQuery",
    "TicketOut",
    "TicketPage",
    "TicketSummary",
    "Transition",
    "WorkaroundOut",
]


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


class TicketOut(StrictModel):
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


class TicketPage(StrictModel):
    items: list[TicketOut]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page. A page may "
        "hold fewer than `limit` items before the end when label filters skip tickets."
    )


class TicketSummary(StrictModel):
    id: str
    title: str
    state: TicketState
    severity: Severity
    created_at: AwareDatetime


class CommentOut(StrictModel):
    author: str
    at: AwareDatetime
    text: str


class SlaClockOut(StrictModel):
    target_seconds: float
    due: AwareDatetime | None = Field(description="null while paused with time left")
    elapsed_seconds: float
    remaining_seconds: float = Field(description="negative once the target is missed")
    running: bool
    met: bool
    at_risk: bool
    breached: bool


class SlaOut(StrictModel):
    """Both SLA clocks at the time of the request; null for a best-effort clock."""

    response: SlaClockOut | None
    resolution: SlaClockOut | None


class WorkaroundOut(StrictModel):
    known_error_id: str | None
    text: str


class TicketDetail(StrictModel):
    ticket: TicketOut
    children: list[TicketSummary]
    history: list[EventOut] = Field(description="the newest 200 audit events, oldest first")
    comments: list[CommentOut]
    sla: SlaOut
    workaround: WorkaroundOut | None
    allowed_actions: list[PublicAction]


class TicketCreate(StrictModel):
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


class _Action(StrictModel):
    def arguments(self) -> TransitionArguments:
        """What `TicketService.transition` takes besides the action, from this request."""
        return TransitionArguments(
            resolution=getattr(self, "resolution", None),
            reason=getattr(self, "reason", None),
            group=getattr(self, "group", None),
            level=getattr(self, "level", None),
        )


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


class CommentCreate(StrictModel):
    text: Text


class MasterLink(StrictModel):
    master_id: TicketId


class TicketListQuery(StrictModel):
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
