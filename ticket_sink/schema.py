"""The store's tables, as the code reads and writes them.

The migrations in `migrations/versions` create this schema; a test compares the two on
SQLite and PostgreSQL, so a column added here without a migration (or the reverse) fails
the suite. Nothing here may touch a database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from ticket_sink.model import ACTIVE_STATES

__all__ = [
    "ACTIVE_STATE_VALUES",
    "JSON_COLUMNS",
    "UTCDateTime",
    "agents",
    "comments",
    "deliveries",
    "known_errors",
    "metadata",
    "outbox",
    "silences",
    "ticket_events",
    "tickets",
]


# Instants spelled for SQLite lately (equal instants in any zone spell alike: they are
# equal keys); a bounded memo, emptied when full.
_spelled: dict[datetime, str] = {}
_SPELLED_KEPT = 4096


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that goes in and comes out timezone-aware UTC on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        # SQLite drops the offset, so convert first to keep the stored wall time in UTC.
        return None if value is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        generic = super().bind_processor(dialect)
        if dialect.name != "sqlite" or generic is None:
            return generic

        def spell(value: Any) -> Any:
            # What SQLite's DATETIME stores ("YYYY-MM-DD HH:MM:SS.ffffff", UTC wall time),
            # by one C call instead of a %-format of seven fields, and once per instant of
            # a batch (a new ticket's row and events repeat the alert's and the batch's
            # times). Anything but a datetime takes the generic path.
            if value.__class__ is not datetime:
                return None if value is None else generic(value)
            text = _spelled.get(value)
            if text is None:
                if len(_spelled) >= _SPELLED_KEPT:
                    _spelled.clear()
                # An aware time's ISO form ends with its offset, here "+00:00".
                text = _spelled[value] = value.astimezone(UTC).isoformat(" ", "microseconds")[:26]
            return text

        return spell

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: stored as UTC, read back naive
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_JSON_OPTIONS |= orjson.OPT_PASSTHROUGH_DATACLASS


def _json_text(value: Any) -> str:
    """A JSON column's value as the store keeps it: compact JSON text. What the standard
    library refuses (times, dataclasses) is refused alike, not spelled a way of orjson's."""
    return orjson.dumps(value, option=_JSON_OPTIONS).decode()


# How the engines spell and read JSON columns (`create_engine` arguments): orjson, about
# five times faster than the standard library both ways; a ticket row has four JSON
# columns, and every ticket read parses them.
JSON_COLUMNS: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


# `model.ACTIVE_STATES` as the `state` column stores them.
ACTIVE_STATE_VALUES = tuple(sorted(state.value for state in ACTIVE_STATES))

metadata = sa.MetaData()

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("hostname", sa.Text, nullable=False),
    sa.Column("shard", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("stopped_at", UTCDateTime, nullable=True),
)

tickets = sa.Table(
    "tickets",
    metadata,
    # -- the ticket (ticket_sink.model.Ticket) --
    sa.Column("id", sa.Text, primary_key=True),
    # NULL for tickets people report by hand: they have no alert to dedupe.
    sa.Column("fingerprint", sa.Text, nullable=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("severity", sa.Integer, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("master_id", sa.Text, nullable=True),
    sa.Column("refers_to", sa.Text, nullable=True),
    sa.Column("assignee_group", sa.Text, nullable=False),
    sa.Column("escalation_level", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("acknowledged_at", UTCDateTime, nullable=True),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("close_reason", sa.Text, nullable=True),
    sa.Column("resolution", sa.Text, nullable=True),
    sa.Column("known_error_id", sa.Text, nullable=True),
    sa.Column("workaround", sa.Text, nullable=True),
    sa.Column("occurrences", sa.Integer, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=True),
    sa.Column("on_hold_since", UTCDateTime, nullable=True),
    sa.Column("pauses", sa.JSON, nullable=False),
    sa.Column("reminders_sent", sa.Integer, nullable=False),
    sa.Column("sla_marks", sa.JSON, nullable=False),
    # -- what the correlator and the reports need besides --
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("service", sa.Text, nullable=False),  # labels["service"], for filters and metrics
    sa.Column("node", sa.Text, nullable=False),  # labels["target"]: the topology node
    sa.Column("group_key", sa.Text, nullable=True),
    sa.Column("caused_by", sa.Text, nullable=True),  # the failing parent node (topology)
    sa.Column("notify", sa.Boolean, nullable=False),
    sa.Column("firing", sa.Boolean, nullable=False),  # the ticket's alert fires now
    sa.Column("recovered_at", UTCDateTime, nullable=True),  # ...or stopped firing then
    sa.Column("flapping", sa.Boolean, nullable=False),
    sa.Column("alert_changes", sa.JSON, nullable=False),  # recent firing/resolved flips
    sa.Column("reporter", sa.Text, nullable=False),
    # At most one unclosed ticket per fingerprint, whatever the number of agents: the
    # database, not the correlator's reading, is what guarantees it.
    sa.Index(
        "uq_tickets_unclosed_fingerprint",
        "fingerprint",
        unique=True,
        sqlite_where=sa.text("state != 'closed'"),
        postgresql_where=sa.text("state != 'closed'"),
    ),
    # Closed tickets by fingerprint (the unclosed ones are in the index above): a new ticket
    # enters one index keyed by a digest, not two.
    sa.Index(
        "ix_tickets_closed_fingerprint",
        "fingerprint",
        sqlite_where=sa.text("state = 'closed'"),
        postgresql_where=sa.text("state = 'closed'"),
    ),
    sa.Index("ix_tickets_state", "state"),
    sa.Index("ix_tickets_master_id", "master_id"),
    sa.Index("ix_tickets_node", "node"),
    sa.Index("ix_tickets_group_key", "group_key"),
    sa.Index("ix_tickets_updated_at", "updated_at"),
)

# The audit trail: every change of every ticket. Its id orders all changes and is the
# cursor of the API's event stream.
ticket_events = sa.Table(
    "ticket_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("field", sa.Text, nullable=False),
    sa.Column("before", sa.Text, nullable=True),
    sa.Column("after", sa.Text, nullable=True),
    sa.Index("ix_ticket_events_ticket_id", "ticket_id"),
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Index("ix_comments_ticket_id", "ticket_id"),
)

known_errors = sa.Table(
    "known_errors",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("matchers", sa.JSON, nullable=False),  # [[name, op, value], ...]
    sa.Column("workaround", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
)

# Notifications written in the same transaction as the ticket change they announce, so
# none is lost and none is sent for a change that rolled back.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),  # the notification's stable id
    sa.Column("ticket_id", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    # Not routed before this instant (a new master waits for its group to gather).
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),  # codec.notification_to_dict
    sa.Column("routed_at", UTCDateTime, nullable=True),  # NULL: not yet given to sinks
    sa.Index("ix_outbox_unrouted", "routed_at", "due_at"),
    sa.Index("ix_outbox_ticket_id", "ticket_id"),
)

# One row per notification and sink it was routed to: what was sent, what waits.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("notification_id", sa.Text, primary_key=True),
    sa.Column("sink", sa.Text, primary_key=True),
    sa.Column("ticket_id", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # pending, held, delivered, failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # The agent whose attempt is in flight (NULL when none is): a dead one's is taken over.
    sa.Column("claimed_by", sa.Text, nullable=True),
    sa.Index("ix_deliveries_due", "state", "next_attempt_at"),
    sa.Index("ix_deliveries_ticket_id", "ticket_id"),
)

# Maintenance windows: notifications of matching tickets wait until `ends_at`.
silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("matchers", sa.JSON, nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
)
