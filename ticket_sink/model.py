"""The ticket model: plain, immutable values for tickets and everything recorded about them.

These types are what the lifecycle, the SLA arithmetic, the store, the correlator and the
API share, so they hold data only: no I/O, no clock, no rules about which change is
allowed (that is `ticket_sink.lifecycle`). A change makes a new value; nothing is mutated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from functools import cached_property

from ticket_sink.label_regex import LabelRegex

__all__ = [
    "ACTIVE_STATES",
    "AuditEvent",
    "CloseReason",
    "Comment",
    "EscalationLevel",
    "KnownError",
    "MatchOp",
    "Matcher",
    "Notification",
    "NotificationEvent",
    "Pause",
    "RefusedMatcher",
    "Severity",
    "Ticket",
    "TicketRecord",
    "TicketState",
    "TicketType",
    "stored_matchers",
]


class TicketState(StrEnum):
    """Where a ticket is in its life; the allowed moves are in `lifecycle.TRANSITIONS`."""

    NEW = "new"  # registered, not yet taken; the response clock runs
    OPEN = "open"  # acknowledged and assigned
    IN_PROGRESS = "in_progress"  # actively worked
    ON_HOLD = "on_hold"  # waiting for the reporter or a third party; SLA clock paused
    RESOLVED = "resolved"  # a solution or workaround was given; may be rejected
    CLOSED = "closed"  # final


# The states in which a ticket is still being worked: its alert updates it, the SLA clocks
# and escalations apply, and it counts as open in reports. The one definition of it.
ACTIVE_STATES: frozenset[TicketState] = frozenset(
    {TicketState.NEW, TicketState.OPEN, TicketState.IN_PROGRESS, TicketState.ON_HOLD}
)


class TicketType(StrEnum):
    INCIDENT = "incident"
    REQUEST = "request"
    CHANGE = "change"


class Severity(IntEnum):
    """1 is the most urgent, as service desks count."""

    BLOCKING = 1
    MAJOR = 2
    MINOR = 3
    INFO = 4


class EscalationLevel(IntEnum):
    """Who is working the ticket; escalating moves it one level up."""

    USER_SUPPORT = 1  # the user's own first-level support
    SERVICE_DESK = 2
    TECHNICAL_TEAMS = 3
    VENDOR = 4


class CloseReason(StrEnum):
    INVALID = "invalid"  # not a real problem (false alarm, wrong target)
    DUPLICATE = "duplicate"  # another ticket covers it
    RESOLVED = "resolved"  # the resolution was accepted, or not rejected in time
    NO_RESPONSE = "no_response"  # on hold, and the reminders went unanswered
    WITHDRAWN = "withdrawn"  # the reporter no longer needs it


@dataclass(frozen=True, slots=True)
class Pause:
    """A finished period during which the SLA clocks did not run (`[start, end)`)."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Ticket:
    """One ticket. Timestamps are timezone-aware; `None` means "not yet".

    `pauses` lists the finished on-hold periods (and resolutions that were rejected):
    the SLA clocks skip them, measured on the policy's calendar, which a plain count of
    paused seconds could not do (a hold over a weekend pauses no business hours).
    `on_hold_since` is the start of the pause in progress. `sla_marks` records which SLA
    escalations already happened ("resolution:at_risk"), so each happens once.
    `labels` is not copied: treat it as read-only.
    """

    id: str
    fingerprint: str
    title: str
    type: TicketType
    severity: Severity
    created_at: datetime
    state: TicketState = TicketState.NEW
    labels: Mapping[str, str] = field(default_factory=dict)
    master_id: str | None = None  # the master ticket this one hangs under
    refers_to: str | None = None  # the closed ticket this one is a recurrence of
    assignee_group: str = ""
    escalation_level: EscalationLevel = EscalationLevel.SERVICE_DESK
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: CloseReason | None = None
    resolution: str | None = None
    known_error_id: str | None = None
    workaround: str | None = None
    occurrences: int = 1
    last_seen: datetime | None = None
    on_hold_since: datetime | None = None
    pauses: tuple[Pause, ...] = ()
    reminders_sent: int = 0
    sla_marks: frozenset[str] = frozenset()

    @property
    def paused_seconds(self) -> float:
        """Wall-clock seconds of the finished pauses (the SLA uses business time instead)."""
        return sum((p.end - p.start).total_seconds() for p in self.pauses)


@dataclass(frozen=True, slots=True)
class TicketRecord:
    """What a decision needs to know of one ticket with the alert's fingerprint.

    `last_seen` is the start of the latest alert episode counted on the ticket: an alert
    starting no later than it was already recorded. `firing` is whether that episode's
    alert still fired when last heard of (a ticket closed by hand can still be firing).
    """

    id: str
    state: TicketState
    created_at: datetime
    last_seen: datetime
    occurrences: int = 1
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    firing: bool = False

    @classmethod
    def of(cls, ticket: Ticket, *, firing: bool = False) -> TicketRecord:
        return cls(
            ticket.id,
            ticket.state,
            ticket.created_at,
            ticket.last_seen or ticket.created_at,
            ticket.occurrences,
            ticket.resolved_at,
            ticket.closed_at,
            firing,
        )


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One recorded change: who did what, when, to which field, from what to what.

    `before` and `after` are text (ISO 8601 for instants, the enum value for enums) so
    the store and the API can show any field the same way; `None` is "no value".
    """

    ticket_id: str
    actor: str
    at: datetime
    action: str
    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class Comment:
    ticket_id: str
    author: str
    at: datetime
    text: str


class MatchOp(StrEnum):
    """Alertmanager's matcher operators; regexes match the whole value."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True)
class Matcher:
    """One label condition. A label the alert lacks counts as the empty string; a regex
    (RE2 syntax, `ticket_sink.label_regex`) must match the whole value."""

    name: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        if self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            self._pattern  # noqa: B018  (compile now, so a bad regex fails at load, not at match)

    @cached_property
    def _pattern(self) -> LabelRegex:
        try:
            return LabelRegex(self.value)
        except ValueError as exc:
            raise ValueError(f"matcher {self.name}{self.op}{self.value!r}: {exc}") from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op is MatchOp.EQUAL:
            return actual == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return actual != self.value
        found = self._pattern.fullmatch(actual)
        return found if self.op is MatchOp.REGEX else not found


@dataclass(frozen=True)
class RefusedMatcher(Matcher):
    """A stored matcher whose regex this version refuses (one recorded before label
    regexes followed RE2): it matches nothing, whatever its operator, so the silence or
    known error that holds it holds or attaches nothing instead of failing every load."""

    reason: str = ""

    def __post_init__(self) -> None:
        pass

    def matches(self, labels: Mapping[str, str]) -> bool:
        return False


def stored_matchers(rows: Iterable[Iterable[str]]) -> tuple[Matcher, ...]:
    """The matchers of a stored silence or known error, `[name, op, value]` each."""
    matchers: list[Matcher] = []
    for name, op, value in rows:
        try:
            matchers.append(Matcher(name, MatchOp(op), value))
        except ValueError as exc:
            matchers.append(RefusedMatcher(name, MatchOp(op), value, reason=str(exc)))
    return tuple(matchers)


@dataclass(frozen=True)
class KnownError:
    """A known-error base entry: tickets whose labels match every matcher get the workaround."""

    id: str
    matchers: tuple[Matcher, ...]
    workaround: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(matcher.matches(labels) for matcher in self.matchers)


class NotificationEvent(StrEnum):
    """What on-call staff are told about; each is one outbox row per ticket and moment."""

    CREATED = "created"
    REOPENED = "reopened"
    ESCALATED = "escalated"
    SLA_AT_RISK = "sla_at_risk"
    SLA_BREACHED = "sla_breached"
    REMINDER = "reminder"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification waiting in (or taken from) the outbox.

    `id` is stable: every sink sends it along so a receiver can drop repeats. `ticket` is
    the ticket as it was when the event happened; `children` counts the tickets hanging
    under it (a master notifies once for its whole group). `detail` says more about the
    event (the SLA clock at risk, the new escalation level).
    """

    id: str
    event: NotificationEvent
    ticket: Ticket
    at: datetime
    children: int = 0
    detail: str = ""
