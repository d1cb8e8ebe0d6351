"""Correlation decisions: what an alert does to the tickets (update, reopen, create, nothing)
and under which master a new ticket hangs (topology, then grouping).

Pure functions over plain records with `now` passed in; a driver reads the records from
the store and carries out the command. They must never read a clock or the store, and
never decide two creations for one fingerprint while an unclosed ticket exists. Every
decision is idempotent: replaying an alert whose command was already carried out decides
`NoChange`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from correlator.fingerprint import fingerprint
from correlator.rules import Alert
from ticket_sink.model import ACTIVE_STATES, Severity, TicketRecord, TicketState

__all__ = [
    "CreateTicket",
    "GroupMaster",
    "NoChange",
    "Placement",
    "ReopenTicket",
    "TicketCommand",
    "TicketRecord",
    "Topology",
    "UpdateTicket",
    "decide",
    "episode_recorded",
    "group_key",
    "group_master",
    "place",
]


@dataclass(frozen=True, slots=True)
class NoChange:
    why: str
    ticket_id: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateTicket:
    """Record one more occurrence; `occurrences` is the new total (so applying it twice is
    harmless)."""

    ticket_id: str
    occurrences: int
    last_seen: datetime
    flapping: bool = False


@dataclass(frozen=True, slots=True)
class ReopenTicket:
    """A resolved ticket's problem came back inside the reopen window: back to `open` at
    `at`."""

    ticket_id: str
    occurrences: int
    last_seen: datetime
    at: datetime
    flapping: bool = False


@dataclass(frozen=True, slots=True)
class CreateTicket:
    fingerprint: str
    labels: Mapping[str, str]
    severity: Severity
    title: str
    at: datetime
    last_seen: datetime
    refers_to: str | None = None  # the latest resolved or closed ticket of this fingerprint
    master_id: str | None = None
    notify: bool = True
    flapping: bool = False


TicketCommand = NoChange | UpdateTicket | ReopenTicket | CreateTicket


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a new ticket goes: under `master_id` (or its own master when `None`).

    `group_key` is set when the ticket starts or joins a group; `caused_by` names the
    failing parent when topology put it there (then nobody is notified for it).
    """

    master_id: str | None = None
    notify: bool = True
    group_key: str | None = None
    caused_by: str | None = None


def _title(alert: Alert) -> str:
    labels = alert.labels
    name = labels.get("alertname", "alert")
    return f"{name}: {labels.get('target', '')} ({labels.get('reason', '')})"


def decide(
    alert: Alert,
    tickets: Iterable[TicketRecord],
    now: datetime,
    *,
    reopen_window: timedelta,
    placement: Placement = Placement(),
    flapping: bool = False,
) -> TicketCommand:
    """The command for `alert`, given the tickets with its fingerprint (any state).

    Same fingerprint + an active ticket → update it; + a ticket resolved no longer than
    `reopen_window` before the alert started → reopen it; otherwise create one that refers
    to the latest resolved or closed ticket. An episode already counted (the alert started
    no later than the latest `last_seen` of these tickets) changes nothing, and so does a
    resolved alert: a recovery never creates a ticket. Except when the ticket that counted
    it was closed while its alert still fired: a live problem is never left without a
    ticket, so the still-firing alert opens a new one that refers to the closed one.
    """
    if not alert.firing:
        return NoChange("the alert is resolved")
    records = sorted(tickets, key=lambda t: (t.created_at, t.id))
    if not records:
        return _create(alert, now, None, placement, flapping)
    # On a tie, the unclosed ticket: it counted the episode after the closed one did.
    latest = max(records, key=lambda t: (t.last_seen, t.state is not TicketState.CLOSED))
    if episode_recorded(alert, latest.last_seen):
        if latest.state is TicketState.CLOSED and latest.firing:
            return _create(alert, now, latest.id, placement, flapping)
        return NoChange("episode already recorded", latest.id)
    active = [t for t in records if t.state in ACTIVE_STATES]
    if active:
        ticket = active[0]  # the oldest, should a race ever have made two
        return UpdateTicket(ticket.id, ticket.occurrences + 1, alert.starts_at, flapping)

    def finished_at(ticket: TicketRecord) -> datetime:
        return ticket.closed_at or ticket.resolved_at or ticket.last_seen

    finished = sorted(records, key=finished_at)
    resolved = [t for t in finished if t.state is TicketState.RESOLVED]
    if resolved:
        ticket = resolved[-1]
        if ticket.resolved_at is not None and alert.starts_at - ticket.resolved_at <= reopen_window:
            return ReopenTicket(ticket.id, ticket.occurrences + 1, alert.starts_at, now, flapping)
    return _create(alert, now, finished[-1].id, placement, flapping)


def episode_recorded(alert: Alert, last_seen: datetime) -> bool:
    """Whether a firing `alert` is an episode a ticket whose latest is `last_seen` counted
    already: a replay, or an older episode arriving late (the ticket knows a later one)."""
    return alert.starts_at <= last_seen


def _create(
    alert: Alert, now: datetime, refers_to: str | None, placement: Placement, flapping: bool
) -> CreateTicket:
    return CreateTicket(
        alert.fingerprint,
        alert.labels,
        alert.severity,
        _title(alert),
        now,
        alert.starts_at,
        refers_to=refers_to,
        master_id=placement.master_id,
        notify=placement.notify,
        flapping=flapping,
    )


# -- grouping --


def group_key(labels: Mapping[str, str], group_by: Sequence[str]) -> str:
    """The group of an alert: the fingerprint of its `group_by` labels (absent ones left out,
    as Alertmanager does)."""
    return fingerprint({name: labels[name] for name in group_by if name in labels})


@dataclass(frozen=True, slots=True)
class GroupMaster:
    """The master ticket of a group, opened at `opened_at`; it gathers for `window`."""

    ticket_id: str
    opened_at: datetime


def group_master(
    key: str, groups: Mapping[str, GroupMaster], now: datetime, window: timedelta
) -> str | None:
    """The master a new ticket of group `key` joins at `now`: the group's, while
    `opened_at <= now < opened_at + window`; `None` starts a new group."""
    master = groups.get(key)
    if master is None or not master.opened_at <= now < master.opened_at + window:
        return None
    return master.ticket_id


# -- topology --


@dataclass(frozen=True, slots=True)
class Topology:
    """Dependencies from the configuration: each node (an alert's `target`) and the nodes it
    depends on (participant → zone name servers, certificate → CRL → issuing CA)."""

    parents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    children: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.children and self.parents:
            children: dict[str, tuple[str, ...]] = {}
            for dependant, parents in self.parents.items():
                for parent in parents:
                    children[parent] = (*children.get(parent, ()), dependant)
            object.__setattr__(self, "children", children)

    @classmethod
    def from_edges(cls, edges: Iterable[tuple[str, str]]) -> Topology:
        """From `(parent, dependant)` pairs."""
        parents: dict[str, tuple[str, ...]] = {}
        for parent, dependant in edges:
            if parent not in parents.get(dependant, ()):
                parents[dependant] = (*parents.get(dependant, ()), parent)
        return cls(parents)

    def ancestors(self, node: str) -> list[str]:
        """Everything `node` depends on, nearest first; cycles in the configuration end."""
        return _walk(self.parents, node)

    def dependants(self, node: str) -> list[str]:
        """Everything that depends on `node`, nearest first."""
        return _walk(self.children, node)


def _walk(edges: Mapping[str, tuple[str, ...]], node: str) -> list[str]:
    """Breadth-first from `node` along `edges`, `node` itself excluded."""
    seen = {node}
    order: list[str] = []
    queue = deque(edges.get(node, ()))
    while queue:
        other = queue.popleft()
        if other in seen:
            continue
        seen.add(other)
        order.append(other)
        queue.extend(edges.get(other, ()))
    return order


def place(
    alert: Alert,
    now: datetime,
    *,
    topology: Topology,
    firing_masters: Mapping[str, str],
    group_by: Sequence[str],
    groups: Mapping[str, GroupMaster],
    group_window: timedelta,
    node_label: str = "target",
) -> Placement:
    """Where a new ticket for `alert` goes.

    A failing parent is the likelier root cause, so topology comes first: when the alert's
    own node (another check of the same thing: the zone sweep beside the zone's health) or
    an ancestor of it has a firing alert (`firing_masters`: node → the master ticket of its
    alert), the ticket hangs under that master and notifies nobody: one incident, one page.
    Otherwise it joins its group's master inside the window, or starts the group
    (`master_id` `None`).
    """
    node = alert.labels.get(node_label, "")
    for parent in (node, *topology.ancestors(node)):
        if parent in firing_masters:
            return Placement(firing_masters[parent], notify=False, caused_by=parent)
    if not group_by:
        return Placement()
    key = group_key(alert.labels, group_by)
    return Placement(group_master(key, groups, now, group_window), group_key=key)
