"""Correlation decisions: what an alert does to the tickets (update, reopen, create, nothing)
and under which master a new ticket hangs (topology, then grouping).

Pure functions over a read-only `Snapshot` of the store with `now` passed in; `decide`
returns a complete command (placement, notification, flapping, occurrence count
included), which `correlator.executor` carries out without deciding anything. They must
never read a clock or the store, and never decide two creations for one fingerprint while
an unclosed ticket exists. Every decision is idempotent: replaying an alert whose command
was already carried out decides `NoChange`.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from correlator.fingerprint import fingerprint
from correlator.rules import Alert
from ticket_sink.flapping import is_flapping, recent_changes
from ticket_sink.model import ACTIVE_STATES, Severity, TicketRecord, TicketState

__all__ = [
    "CorrelationPolicy",
    "CreateTicket",
    "GroupMaster",
    "NoChange",
    "Placement",
    "RecoverTicket",
    "ReopenTicket",
    "Snapshot",
    "TicketCommand",
    "TicketRecord",
    "Topology",
    "UpdateTicket",
    "decide",
    "ended_older_episode",
    "episode_recorded",
    "group_key",
    "group_master",
    "place",
]


@dataclass(frozen=True, slots=True)
class CorrelationPolicy:
    """How alerts become tickets; the defaults are the documented configuration defaults."""

    reopen_window: timedelta = timedelta(hours=1)
    group_by: tuple[str, ...] = ("service", "alertname")
    group_window: timedelta = timedelta(minutes=5)
    # A new master's notification waits this long so its group can gather first.
    group_wait: timedelta = timedelta(seconds=30)
    quiet_period: timedelta = timedelta(minutes=2)
    flap_window: timedelta = timedelta(minutes=30)
    flap_max_changes: int = 6
    topology: Topology = field(default_factory=lambda: Topology())
    node_label: str = "target"


@dataclass(frozen=True, slots=True)
class GroupMaster:
    """The master ticket of a group, opened at `opened_at` on `node`; it gathers for
    `window`."""

    ticket_id: str
    opened_at: datetime
    node: str = ""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What `decide` knows of the store for one alert, read-only.

    `tickets`: the fingerprint's unclosed ticket, and its latest closed one (or only the
    latter when there is no unclosed one). `alert_changes`, `flapping` and `notifies` are
    the correlator's bookkeeping of the latest of them (its alert's recent flips, its
    flapping flag, whether it notifies on its own). For placing a new ticket:
    `firing_masters` maps nodes where a firing ticket is worked (at least the alert's node
    and its ancestors that have one) to that ticket's master; `groups` the gathering groups
    by key (at least the alert's).
    """

    tickets: Sequence[TicketRecord] = ()
    alert_changes: Sequence[datetime] = ()
    flapping: bool = False
    notifies: bool = True
    firing_masters: Mapping[str, str] = field(default_factory=dict)
    groups: Mapping[str, GroupMaster] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NoChange:
    why: str
    ticket_id: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateTicket:
    """Record one more occurrence; `occurrences` is the new total (so applying it twice is
    harmless). `alert_changes` is the new list of the alert's recent flips when the alert
    was clear until now, `None` when it kept firing (nothing flipped)."""

    ticket_id: str
    occurrences: int
    last_seen: datetime
    flapping: bool = False
    alert_changes: tuple[datetime, ...] | None = None


@dataclass(frozen=True, slots=True)
class ReopenTicket:
    """A resolved ticket's problem came back inside the reopen window: back to `open` at
    `at`; `notify` says whether a reopening notification goes out (a master that notifies
    on its own)."""

    ticket_id: str
    occurrences: int
    last_seen: datetime
    at: datetime
    flapping: bool = False
    alert_changes: tuple[datetime, ...] | None = None
    notify: bool = True


@dataclass(frozen=True, slots=True)
class RecoverTicket:
    """The ticket's alert stopped firing at `recovered_at` (once per episode)."""

    ticket_id: str
    recovered_at: datetime
    alert_changes: tuple[datetime, ...]
    flapping: bool


@dataclass(frozen=True, slots=True)
class CreateTicket:
    """A new ticket, placed: under `master_id` (its own master when `None`), in group
    `group_key`, caused by the failing node `caused_by`. `notify_at` is when its creation
    is announced (`None`: never, a ticket under a master is told through it). `closes` is
    a resolved ticket of the fingerprint to close first (a recurrence after the reopen
    window); `adopts` says the alert's node has dependants whose masters now hang under
    this ticket's master."""

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
    group_key: str | None = None
    caused_by: str | None = None
    notify_at: datetime | None = None
    closes: str | None = None
    adopts: bool = False


TicketCommand = NoChange | UpdateTicket | ReopenTicket | RecoverTicket | CreateTicket


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
    alert: Alert, snapshot: Snapshot, now: datetime, policy: CorrelationPolicy
) -> TicketCommand:
    """The complete command for `alert`, given what the store holds (`snapshot`).

    Same fingerprint + an active ticket → update it; + a ticket resolved no longer than
    `reopen_window` before the alert started → reopen it; otherwise create one that refers
    to the latest resolved or closed ticket (closing a resolved one first), placed by
    topology, then grouping. An episode already counted (the alert started no later than
    the latest `last_seen` of these tickets) changes nothing, except when the ticket that
    counted it was closed while its alert still fired: a live problem is never left
    without a ticket, so the still-firing alert opens a new one that refers to the closed
    one. A resolved alert records the recovery of its episode once and never creates a
    ticket. Every flip of the alert counts toward flapping.
    """
    records = sorted(snapshot.tickets, key=lambda t: (t.created_at, t.id))
    # On a tie, the unclosed ticket: it counted the episode after the closed one did.
    latest = max(
        records, key=lambda t: (t.last_seen, t.state is not TicketState.CLOSED), default=None
    )
    if not alert.firing:
        return _recovery(alert, latest, snapshot, now, policy)
    if latest is None:
        return _create(alert, snapshot, now, policy, None, None)
    if episode_recorded(alert, latest.last_seen):
        if latest.state is TicketState.CLOSED and latest.firing:
            return _create(alert, snapshot, now, policy, latest.id, None)
        return NoChange("episode already recorded", latest.id)
    changes, flapping = (None, snapshot.flapping)
    if not latest.firing:
        flipped = _flipped(snapshot, alert.starts_at, now, policy)
        changes, flapping = flipped[0], snapshot.flapping or flipped[1]
    active = [t for t in records if t.state in ACTIVE_STATES]
    if active:
        ticket = active[0]  # the oldest, should a race ever have made two
        return UpdateTicket(ticket.id, ticket.occurrences + 1, alert.starts_at, flapping, changes)

    def finished_at(ticket: TicketRecord) -> datetime:
        return ticket.closed_at or ticket.resolved_at or ticket.last_seen

    finished = sorted(records, key=finished_at)
    resolved = [t for t in finished if t.state is TicketState.RESOLVED]
    if resolved:
        ticket = resolved[-1]
        if (
            ticket.resolved_at is not None
            and alert.starts_at - ticket.resolved_at <= policy.reopen_window
        ):
            return ReopenTicket(
                ticket.id,
                ticket.occurrences + 1,
                alert.starts_at,
                now,
                flapping,
                changes,
                notify=snapshot.notifies,
            )
    closes = resolved[-1].id if resolved else None
    return _create(alert, snapshot, now, policy, finished[-1].id, closes)


def _flipped(
    snapshot: Snapshot, at: datetime, now: datetime, policy: CorrelationPolicy
) -> tuple[tuple[datetime, ...], bool]:
    """The alert's recent flips with one more at `at`, and whether that is flapping."""
    window = policy.flap_window
    changes = (*recent_changes(snapshot.alert_changes, now, window), at)
    flapping = is_flapping(changes, now, window=window, max_changes=policy.flap_max_changes)
    return changes, flapping


def _recovery(
    alert: Alert,
    latest: TicketRecord | None,
    snapshot: Snapshot,
    now: datetime,
    policy: CorrelationPolicy,
) -> TicketCommand:
    """A resolved alert: the latest ticket's alert stopped firing, once per episode (a
    ticket closed while it fired included: a late copy of that episode then opens
    nothing)."""
    if latest is None or not latest.firing or alert.ends_at is None:
        return NoChange("the alert is resolved")
    if ended_older_episode(alert, latest.last_seen):
        return NoChange("the end of an older episode", latest.id)
    changes, flipped = _flipped(snapshot, alert.ends_at, now, policy)
    return RecoverTicket(latest.id, alert.ends_at, changes, snapshot.flapping or flipped)


def episode_recorded(alert: Alert, last_seen: datetime) -> bool:
    """Whether a firing `alert` is an episode a ticket whose latest is `last_seen` counted
    already: a replay, or an older episode arriving late (the ticket knows a later one)."""
    return alert.starts_at <= last_seen


def ended_older_episode(alert: Alert, last_seen: datetime) -> bool:
    """Whether a resolved `alert` ends an episode older than the latest a ticket counted
    (`last_seen`): its recovery says nothing about the episode being worked."""
    return alert.starts_at < last_seen


def _create(
    alert: Alert,
    snapshot: Snapshot,
    now: datetime,
    policy: CorrelationPolicy,
    refers_to: str | None,
    closes: str | None,
) -> CreateTicket:
    placement = place(
        alert,
        now,
        topology=policy.topology,
        firing_masters=snapshot.firing_masters,
        group_by=policy.group_by,
        groups=snapshot.groups,
        group_window=policy.group_window,
        node_label=policy.node_label,
    )
    node = alert.labels.get(policy.node_label, "")
    dependants = policy.topology.dependants(node)
    if placement.master_id is not None and placement.caused_by is None:
        # Joining a group whose master depends on this node (the zone, joining the group
        # of one of its name servers): the likelier root cause leads the group instead,
        # and the old master moves under it (`adopts`).
        joined = snapshot.groups.get(placement.group_key or "")
        if joined is not None and joined.node in dependants:
            placement = Placement(None, placement.notify, placement.group_key)
    notifies = placement.master_id is None and placement.notify
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
        group_key=placement.group_key,
        caused_by=placement.caused_by,
        notify_at=now + policy.group_wait if notifies else None,
        closes=closes,
        adopts=bool(dependants),
    )


# -- grouping --


def group_key(labels: Mapping[str, str], group_by: Sequence[str]) -> str:
    """The group of an alert: the fingerprint of its `group_by` labels (absent ones left out,
    as Alertmanager does)."""
    return _group_fingerprint(tuple([(name, labels[name]) for name in group_by if name in labels]))


# A storm's thousands of alerts fall in a few groups: each group's digest is worked out once.
@functools.lru_cache(maxsize=4096)
def _group_fingerprint(pairs: tuple[tuple[str, str], ...]) -> str:
    return fingerprint(dict(pairs))


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
    # An alert without a node (no `target` label) is no check of anything in particular.
    for parent in (node, *topology.ancestors(node)) if node else ():
        if parent in firing_masters:
            return Placement(firing_masters[parent], notify=False, caused_by=parent)
    if not group_by:
        return Placement()
    key = group_key(alert.labels, group_by)
    return Placement(group_master(key, groups, now, group_window), group_key=key)
