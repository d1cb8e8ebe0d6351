"""The lifecycle state machine: every allowed and every refused (state, action) pair of
DESIGN.md's table, the audit trail, master tickets, known errors, and the invariant that a
closed ticket never changes."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticket_sink.lifecycle import (
    CLOSE_REASONS,
    Action,
    TransitionError,
    allowed_actions,
    apply,
    attach_known_error,
    comment,
    created,
    known_error_from,
    resolve_children,
)
from ticket_sink.model import (
    AuditEvent,
    CloseReason,
    EscalationLevel,
    KnownError,
    Matcher,
    MatchOp,
    Pause,
    RefusedMatcher,
    Severity,
    Ticket,
    TicketState,
    TicketType,
    stored_matchers,
)
from ticket_sink.outbound.routing import Silence

BRUSSELS = ZoneInfo("Europe/Brussels")
T0 = datetime(2026, 11, 20, 19, tzinfo=BRUSSELS)
LATER = T0 + timedelta(hours=2)
S = TicketState
A = Action

# DESIGN.md's table written out again, independently of the code: state -> action -> state.
EXPECTED: dict[TicketState, dict[Action, TicketState]] = {
    S.NEW: {A.ACKNOWLEDGE: S.OPEN, A.CLOSE: S.CLOSED},
    S.OPEN: {A.START: S.IN_PROGRESS, A.HOLD: S.ON_HOLD, A.RESOLVE: S.RESOLVED, A.CLOSE: S.CLOSED},
    S.IN_PROGRESS: {A.HOLD: S.ON_HOLD, A.RESOLVE: S.RESOLVED, A.CLOSE: S.CLOSED},
    S.ON_HOLD: {
        A.RESUME: S.IN_PROGRESS,
        A.RESOLVE: S.RESOLVED,
        A.CLOSE: S.CLOSED,
        A.REMIND: S.ON_HOLD,
    },
    S.RESOLVED: {A.REJECT_RESOLUTION: S.OPEN, A.CLOSE: S.CLOSED},
    S.CLOSED: {},
}
# Changes that keep the state, allowed while the ticket is being worked.
for _state in (S.NEW, S.OPEN, S.IN_PROGRESS, S.ON_HOLD):
    for _action in (A.ESCALATE, A.DEESCALATE, A.REASSIGN, A.RECORD_OCCURRENCE):
        EXPECTED[_state][_action] = _state


def ticket_in(state: TicketState, **fields: object) -> Ticket:
    """A ticket in `state` with the fields that state implies."""
    base = Ticket(
        id="T-1",
        fingerprint="f" * 32,
        title="SML zone acc.edelivery.tech.ec.europa.eu does not answer",
        type=TicketType.INCIDENT,
        severity=Severity.BLOCKING,
        created_at=T0,
        state=state,
        labels={"alertname": "SmlZoneDown", "zone": "acc"},
        assignee_group="service-desk",
    )
    implied: dict[str, object] = {}
    if state is not S.NEW:
        implied["acknowledged_at"] = T0 + timedelta(minutes=10)
    if state is S.ON_HOLD:
        implied["on_hold_since"] = T0 + timedelta(minutes=30)
    if state in (S.RESOLVED, S.CLOSED):
        implied.update(resolved_at=T0 + timedelta(hours=1), resolution="restarted the server")
    if state is S.CLOSED:
        implied.update(closed_at=T0 + timedelta(hours=2), close_reason=CloseReason.RESOLVED)
    return dataclasses.replace(base, **{**implied, **fields})  # type: ignore[arg-type]


def full_args(state: TicketState) -> dict[str, object]:
    reasons = sorted(CLOSE_REASONS.get(state, {CloseReason.RESOLVED}))
    return {"resolution": "workaround given", "reason": reasons[0], "group": "dns-team"}


ALLOWED = [
    pytest.param(state, action, target, id=f"{state}-{action}")
    for state, moves in EXPECTED.items()
    for action, target in moves.items()
]
REFUSED = [
    pytest.param(state, action, id=f"{state}-{action}")
    for state in TicketState
    for action in Action
    if action not in EXPECTED[state]
]


@pytest.mark.parametrize(("state", "action", "target"), ALLOWED)
def test_allowed(state: TicketState, action: Action, target: TicketState) -> None:
    before = ticket_in(state)
    after, events = apply(before, action, actor="alice", at=LATER, **full_args(state))  # type: ignore[arg-type]
    assert after.state is target
    assert events, "every change is audited"
    assert {e.action for e in events} == {action.value}
    assert all((e.ticket_id, e.actor, e.at) == ("T-1", "alice", LATER) for e in events)
    changed = {
        f.name
        for f in dataclasses.fields(Ticket)
        if getattr(before, f.name) != getattr(after, f.name)
    }
    assert {e.field for e in events} == changed


@pytest.mark.parametrize(("state", "action"), REFUSED)
def test_refused(state: TicketState, action: Action) -> None:
    before = ticket_in(state)
    with pytest.raises(TransitionError, match=f"{action} is not allowed") as refused:
        apply(before, action, actor="alice", at=LATER, **full_args(state))  # type: ignore[arg-type]
    for allowed in EXPECTED[state]:
        assert allowed.value in str(refused.value)
    if state is S.CLOSED:
        assert "closed is final" in str(refused.value)


def test_table_matches_design() -> None:
    for state, moves in EXPECTED.items():
        assert set(allowed_actions(state)) == set(moves)


@pytest.mark.parametrize(
    ("state", "action", "args", "message"),
    [
        pytest.param(S.OPEN, A.RESOLVE, {}, "needs a resolution", id="resolve-without-resolution"),
        pytest.param(S.NEW, A.CLOSE, {}, "needs a reason", id="close-without-reason"),
        pytest.param(
            S.NEW,
            A.CLOSE,
            {"reason": CloseReason.RESOLVED},
            "invalid",
            id="new-closes-invalid-or-dup",
        ),
        pytest.param(
            S.RESOLVED,
            A.CLOSE,
            {"reason": CloseReason.INVALID},
            "resolved",
            id="resolved-closes-resolved",
        ),
        pytest.param(S.OPEN, A.REASSIGN, {}, "needs a group", id="reassign-without-group"),
        pytest.param(
            S.OPEN, A.ESCALATE, {"level": EscalationLevel.USER_SUPPORT}, "above", id="escalate-down"
        ),
        pytest.param(
            S.OPEN, A.DEESCALATE, {"level": EscalationLevel.VENDOR}, "below", id="deescalate-up"
        ),
        pytest.param(
            S.IN_PROGRESS,
            A.CLOSE,
            {"reason": CloseReason.INVALID},
            "duplicate, withdrawn",
            id="in-progress-closes-duplicate-or-withdrawn",
        ),
    ],
)
def test_missing_or_wrong_arguments(
    state: TicketState, action: Action, args: dict[str, object], message: str
) -> None:
    with pytest.raises(TransitionError, match=message):
        apply(ticket_in(state), action, actor="alice", at=LATER, **args)  # type: ignore[arg-type]


def test_escalation_stops_at_the_vendor() -> None:
    ticket = ticket_in(S.OPEN, escalation_level=EscalationLevel.TECHNICAL_TEAMS)
    ticket, events = apply(ticket, A.ESCALATE, actor="sla", at=LATER, mark="resolution:at_risk")
    assert ticket.escalation_level is EscalationLevel.VENDOR
    assert ticket.sla_marks == {"resolution:at_risk"}
    assert [(e.field, e.before, e.after) for e in events] == [
        ("escalation_level", "3", "4"),
        ("sla_marks", "", "resolution:at_risk"),
    ]
    with pytest.raises(TransitionError, match="above the current VENDOR"):
        apply(ticket, A.ESCALATE, actor="sla", at=LATER)


def test_a_vendor_hands_the_ticket_back_down() -> None:
    ticket = ticket_in(
        S.IN_PROGRESS, escalation_level=EscalationLevel.VENDOR, sla_marks={"resolution:at_risk"}
    )
    ticket, events = apply(ticket, A.DEESCALATE, actor="vendor-liaison", at=LATER)
    assert ticket.escalation_level is EscalationLevel.TECHNICAL_TEAMS
    assert ticket.state is S.IN_PROGRESS
    # What the SLA already escalated for is not escalated for again.
    assert ticket.sla_marks == {"resolution:at_risk"}
    assert [(e.action, e.actor, e.field, e.before, e.after) for e in events] == [
        ("deescalate", "vendor-liaison", "escalation_level", "4", "3")
    ]
    ticket, _ = apply(
        ticket, A.DEESCALATE, actor="lead", at=LATER, level=EscalationLevel.USER_SUPPORT
    )
    assert ticket.escalation_level is EscalationLevel.USER_SUPPORT
    with pytest.raises(TransitionError, match="below the current USER_SUPPORT"):
        apply(ticket, A.DEESCALATE, actor="lead", at=LATER)


@pytest.mark.parametrize("reason", [CloseReason.DUPLICATE, CloseReason.WITHDRAWN])
def test_a_ticket_in_progress_closes_as_duplicate_or_withdrawn(reason: CloseReason) -> None:
    closed, events = apply(ticket_in(S.IN_PROGRESS), A.CLOSE, actor="lead", at=LATER, reason=reason)
    assert (closed.state, closed.close_reason, closed.closed_at) == (S.CLOSED, reason, LATER)
    assert ("close_reason", None, reason.value) in [(e.field, e.before, e.after) for e in events]


def test_hold_and_resume_record_the_pause() -> None:
    held, events = apply(ticket_in(S.IN_PROGRESS), A.HOLD, actor="bob", at=LATER)
    assert held.on_hold_since == LATER
    back, events = apply(held, A.RESUME, actor="bob", at=LATER + timedelta(hours=3))
    assert back.on_hold_since is None
    assert back.pauses == (Pause(LATER, LATER + timedelta(hours=3)),)
    assert back.paused_seconds == 3 * 3600
    assert [e.field for e in events] == ["state", "on_hold_since", "pauses"]


def test_rejected_resolution_pauses_for_the_time_it_was_resolved() -> None:
    resolved = ticket_in(S.RESOLVED)
    reopened, _events = apply(resolved, A.REJECT_RESOLUTION, actor="reporter", at=LATER)
    assert reopened.resolved_at is None
    assert reopened.resolution is None
    assert reopened.pauses == (Pause(T0 + timedelta(hours=1), LATER),)


def test_comment_is_audited_and_changes_nothing() -> None:
    note, event = comment(ticket_in(S.CLOSED), author="carol", at=LATER, text="post-mortem done")
    assert (note.ticket_id, note.author, note.text) == ("T-1", "carol", "post-mortem done")
    assert event == AuditEvent(
        "T-1", "carol", LATER, "comment", "comments", None, "post-mortem done"
    )


def test_resolving_a_master_resolves_its_children() -> None:
    master = ticket_in(S.RESOLVED, id="M", resolution="zone re-signed")
    children = [
        ticket_in(S.NEW, id="C1", master_id="M"),
        ticket_in(S.ON_HOLD, id="C2", master_id="M"),
        ticket_in(S.CLOSED, id="C3", master_id="M"),
        ticket_in(S.OPEN, id="other", master_id="X"),
    ]
    changed = resolve_children(master, children, actor="correlator", at=LATER)
    assert [(child.id, child.state) for child, _ in changed] == [
        ("C1", S.RESOLVED),
        ("C2", S.RESOLVED),
    ]
    c1_events = changed[0][1]
    assert [e.action for e in c1_events][:1] == ["acknowledge"]
    assert changed[1][0].resolution == "resolved with master ticket M: zone re-signed"
    with pytest.raises(TransitionError, match="only a resolved master"):
        resolve_children(ticket_in(S.OPEN, id="M"), children, actor="x", at=LATER)


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        pytest.param(Matcher("zone", MatchOp.EQUAL, "acc"), {"zone": "acc"}, True, id="eq"),
        pytest.param(Matcher("zone", MatchOp.EQUAL, "acc"), {"zone": "prod"}, False, id="eq-no"),
        pytest.param(Matcher("zone", MatchOp.NOT_EQUAL, "acc"), {}, True, id="ne-missing"),
        pytest.param(Matcher("zone", MatchOp.EQUAL, ""), {}, True, id="missing-is-empty"),
        pytest.param(Matcher("host", MatchOp.REGEX, "smp.*"), {"host": "smp1"}, True, id="re"),
        pytest.param(
            Matcher("host", MatchOp.REGEX, "smp"), {"host": "smp1"}, False, id="re-anchored"
        ),
        pytest.param(Matcher("host", MatchOp.NOT_REGEX, "smp.*"), {"host": "ap"}, True, id="nre"),
        pytest.param(Matcher("host", MatchOp.REGEX, "a|b"), {"host": "ab"}, False, id="re-alt"),
        pytest.param(
            Matcher("host", MatchOp.REGEX, r"smp\d+"), {"host": "smp12"}, True, id="re2-d"
        ),
        pytest.param(Matcher("host", MatchOp.REGEX, "(?i)SMP"), {"host": "smp"}, True, id="re2-i"),
        pytest.param(Matcher("host", MatchOp.REGEX, ".*"), {"host": "é\ud800"}, True, id="re2-sur"),
        pytest.param(
            Matcher("host", MatchOp.REGEX, "(.*.*)*#"), {"host": "a" * 99}, False, id="bomb"
        ),
    ],
)
def test_matchers(matcher: Matcher, labels: dict[str, str], expected: bool) -> None:
    assert matcher.matches(labels) is expected


@pytest.mark.parametrize("pattern", ["(", r"(a)\1", "(?=a)", "(?<=a)b", r"\pL{1000}"])
def test_a_regex_re2_refuses_fails_when_the_matcher_is_made(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"host=~.*not a valid RE2 regular expression"):
        Matcher("host", MatchOp.REGEX, pattern)


def test_stored_matchers_re2_refuses_match_nothing() -> None:
    """A silence or known error recorded before regexes followed RE2 holds or attaches
    nothing, whatever its operator, instead of failing every load."""
    matchers = stored_matchers([["host", "!~", r"(a)\1"], ["zone", "=", "acc"]])
    assert isinstance(matchers[0], RefusedMatcher)
    assert matchers[1] == Matcher("zone", MatchOp.EQUAL, "acc")
    assert not matchers[0].matches({"host": "b"})
    assert not KnownError("KE-1", matchers, "w").matches({"host": "b", "zone": "acc"})
    silence = Silence("s", matchers, LATER - timedelta(hours=1), LATER + timedelta(hours=1))
    assert not silence.silences({"host": "b", "zone": "acc"}, LATER)


def test_known_error_workaround_is_attached_once() -> None:
    base = [
        KnownError("KE-1", (Matcher("alertname", MatchOp.EQUAL, "CrlStale"),), "use the mirror"),
        KnownError("KE-2", (Matcher("zone", MatchOp.REGEX, "ac+"),), "restart NSD on ns2"),
    ]
    ticket, events = attach_known_error(ticket_in(S.NEW), base, actor="correlator", at=LATER)
    assert (ticket.known_error_id, ticket.workaround) == ("KE-2", "restart NSD on ns2")
    assert [(e.field, e.after) for e in events] == [
        ("known_error_id", "KE-2"),
        ("workaround", "restart NSD on ns2"),
    ]
    assert attach_known_error(ticket, base, actor="correlator", at=LATER) == (ticket, [])


_ARGS = st.fixed_dictionaries(
    {
        "resolution": st.sampled_from([None, "fixed"]),
        "reason": st.sampled_from([None, *CloseReason]),
        "group": st.sampled_from([None, "dns-team"]),
        "level": st.sampled_from([None, *EscalationLevel]),
        "mark": st.sampled_from([None, "response:breached"]),
    }
)


@given(
    st.sampled_from(list(TicketState)),
    st.lists(st.tuples(st.sampled_from(list(Action)), _ARGS), max_size=30),
)
def test_random_sequences_never_change_a_closed_ticket(
    start: TicketState, steps: list[tuple[Action, dict[str, object]]]
) -> None:
    ticket = ticket_in(start)
    at = LATER
    for action, args in steps:
        at += timedelta(minutes=7)
        was_closed = ticket.state is S.CLOSED
        try:
            changed, _events = apply(ticket, action, actor="fuzz", at=at, **args)  # type: ignore[arg-type]
        except TransitionError:
            continue
        assert not was_closed, "a closed ticket accepted a change"
        assert (changed.on_hold_since is not None) == (changed.state is S.ON_HOLD)
        ticket = changed


def test_registration_is_audited() -> None:
    recurrence = ticket_in(S.NEW, id="T-2", refers_to="T-1")
    assert created(recurrence, actor="correlator") == [
        AuditEvent("T-2", "correlator", T0, "create", "state", None, "new"),
        AuditEvent("T-2", "correlator", T0, "create", "refers_to", None, "T-1"),
    ]


def test_a_resolution_becomes_a_known_error() -> None:
    matchers = (Matcher("alertname", MatchOp.EQUAL, "SmlZoneDown"),)
    entry = known_error_from(ticket_in(S.RESOLVED), id="KE-3", matchers=matchers)
    assert entry == KnownError("KE-3", matchers, "restarted the server")
    with pytest.raises(TransitionError, match="only a resolution"):
        known_error_from(ticket_in(S.OPEN), id="KE-4", matchers=matchers)
