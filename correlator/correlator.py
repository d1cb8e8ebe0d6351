"""`Correlator`: feeds alerts into the ticket store through the pure decisions of
`correlator.decide` (carried out by `correlator.executor`), remembers which episodes the
store holds, and runs the periodic sweep of `ticket_sink.sweep` between its ingests.

Each `ingest` call is one store transaction: when it returns, every ticket it created or
changed, their audit events and their outbox notifications are committed together. It
must never hold a decision across transactions (another agent may have written since), and
never write for an alert that changes nothing: repeats of a firing alert are the common
case, and repeats of what the store is known to hold cost no read at all. One batch's
decisions are carried out by `correlator.executor.Batch`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import structlog

from correlator.decide import CorrelationPolicy, ended_older_episode, episode_recorded
from correlator.executor import Batch, IngestResult
from correlator.rules import Alert
from ticket_sink import Store, StoreConflict, correlation_queries
from ticket_sink.sla import SlaPolicy
from ticket_sink.sweep import SweepPolicy, SweepResult, sweep

__all__ = ["CorrelationPolicy", "Correlator", "IngestResult", "SweepResult"]

log = structlog.get_logger("vigie.correlator")

# A batch that collided with another agent's write is read and decided again; a
# collision on every try means something else is wrong.
_CONFLICT_RETRIES = 5
# Fingerprints whose recorded episode a process remembers before starting afresh.
_KNOWN_LIMIT = 500_000
# A close committed this long after its transaction read the clock is still seen (a
# transaction takes milliseconds; a long one, seconds).
_CLOSE_MARGIN = timedelta(minutes=1)


class Correlator:
    """Feeds alerts into the store's tickets; one per process, sharing the app's store."""

    def __init__(self, store: Store, policy: SlaPolicy, correlation: CorrelationPolicy) -> None:
        self._store = store
        self._sla = policy
        self._policy = correlation
        self._sweep = SweepPolicy(
            correlation.quiet_period, correlation.flap_window, correlation.flap_max_changes
        )
        # Alerts received, by source (probe, alertmanager, api), for the metrics.
        self.received: Counter[str] = Counter()
        # This process's ingests and sweeps write one after the other. The database
        # serialises them anyway (SQLite has one writer; on PostgreSQL batches of the same
        # alerts lock the same rows), and waiting here costs nothing, whereas waiting for
        # SQLite's write lock means sleeping in its busy handler (steps up to 100 ms) while
        # holding a pooled connection.
        self._writing = asyncio.Lock()
        # What this process knows is recorded, per fingerprint: the latest alert episode
        # (its start; it only ever grows, whichever agent records it), and the episode
        # whose recovery is recorded. Repeats of what is known decide `NoChange` without
        # reading the store, exactly as they would after reading it. Stale knowledge (another
        # agent recorded more) only sends an alert to the store, never keeps one away.
        self._seen: dict[str, datetime] = {}
        self._recovered: dict[str, datetime] = {}
        # Knowledge stops being true when someone closes a ticket while its alert fires:
        # the next firing occurrence opens a new ticket, so it must reach the store. The
        # store instant up to which closes were looked for, and the data version then.
        self._closes_checked_at: datetime | None = None
        self._closes_checked_version: int | None = None

    @property
    def store(self) -> Store:
        return self._store

    @property
    def sla_policy(self) -> SlaPolicy:
        return self._sla

    async def ingest(self, alerts: Sequence[Alert], *, source: str = "probe") -> IngestResult:
        """Record `alerts` (firing or resolved), in one transaction.

        Alerts of one fingerprint are taken in the order given; across fingerprints, in
        fingerprint order, so that agents sharing a PostgreSQL database lock rows in one
        order and rarely deadlock (when they do, the batch runs again).
        """
        self.received[source] += len(alerts)
        await self._forget_closed(alerts)
        fresh = sorted(
            (alert for alert in alerts if not self._known(alert)),
            key=lambda alert: alert.fingerprint,
        )
        if fresh:
            async with self._writing:
                result = await self._ingest(fresh, source)
        else:
            result = IngestResult()
        if len(alerts) > len(fresh):
            result.counts["unchanged"] += len(alerts) - len(fresh)
        return result

    async def _forget_closed(self, alerts: Sequence[Alert]) -> None:
        """Forget what is known of the fingerprints whose ticket was closed since the last
        look (by this process or another): a still-firing alert of theirs now opens a new
        ticket. On a SQLite file an unchanged data version says nothing was written, and
        the look costs no query. Only knowledge can be stale: a batch of fingerprints none
        of which is known (an alert storm's first pass) leaves the look for a later batch,
        which then looks back as far as this one would have."""
        if not any(alert.fingerprint in self._seen for alert in alerts):
            if self._closes_checked_at is None:
                # Nothing is known before this instant, so nothing before it can be stale.
                self._closes_checked_at = self._store.now()
            return
        version = self._store.data_version()
        if version is not None and version == self._closes_checked_version:
            return
        now = self._store.now()
        if not self._seen:
            closed: set[str] = set()  # nothing known, nothing to forget
        else:
            since = (self._closes_checked_at or now) - _CLOSE_MARGIN
            async with self._store.transaction(write=False) as tx:
                closed = await correlation_queries.fingerprints_closed_since(tx, since)
        for fingerprint in closed:
            self._seen.pop(fingerprint, None)
            self._recovered.pop(fingerprint, None)
        self._closes_checked_at, self._closes_checked_version = now, version

    def _known(self, alert: Alert) -> bool:
        """Whether the store is known to have recorded this alert already (see `_seen`),
        by `decide`'s own rules (`episode_recorded`, `ended_older_episode`): a known alert
        is one `decide` would answer `NoChange` for."""
        seen = self._seen.get(alert.fingerprint)
        if seen is None:
            return False
        if alert.firing:
            return episode_recorded(alert, seen)
        if ended_older_episode(alert, seen):
            return True
        # The end of the latest known episode: known once its recovery is recorded.
        return alert.starts_at == seen and self._recovered.get(alert.fingerprint) == seen

    def _remember(self, observed: Mapping[str, tuple[datetime, bool]]) -> None:
        """What a committed batch saw or wrote: each fingerprint's latest episode, and
        whether its alert still fires."""
        if len(self._seen) > _KNOWN_LIMIT:
            self._seen.clear()  # forgetting only costs reads
            self._recovered.clear()
        for fingerprint, (last_seen, firing) in observed.items():
            if last_seen < self._seen.get(fingerprint, last_seen):
                continue  # older than what is known (another agent's batch, read earlier)
            self._seen[fingerprint] = last_seen
            if firing:
                self._recovered.pop(fingerprint, None)
            else:
                self._recovered[fingerprint] = last_seen

    async def _ingest(self, alerts: Sequence[Alert], source: str) -> IngestResult:
        attempt = 0
        while True:
            try:
                async with self._store.transaction(buffered=True) as tx:
                    batch = Batch(tx, self._policy, source)
                    result = await batch.run(alerts)
            except StoreConflict:
                attempt += 1
                if attempt > _CONFLICT_RETRIES:
                    raise
                # Another agent created a ticket for one of these fingerprints first:
                # its ticket is there to be read now.
                log.info("ingest_conflict_retry", attempt=attempt, alerts=len(alerts))
                continue
            # Committed: what the batch saw and wrote is in the store.
            self._remember(batch.observed())
            return result

    async def sweep(self) -> SweepResult:
        """Auto-resolve recovered tickets, then do what the SLA calls for
        (`ticket_sink.sweep`), in one transaction between this process's ingests."""
        async with self._writing, self._store.transaction() as tx:
            return await sweep(tx, self._sla, self._sweep)
