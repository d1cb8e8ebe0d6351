"""Index closed tickets alone by fingerprint (`ix_tickets_closed_fingerprint`), in place of
the index of every ticket by fingerprint.

The unclosed tickets are already indexed by fingerprint (`uq_tickets_unclosed_fingerprint`,
which keeps them one per fingerprint); the correlator asks for closed ones with
`state = 'closed'`. A new ticket now enters one fingerprint index instead of two: fingerprints
are digests, so each index takes its entry at a random place and a storm of new tickets
wrote a page of each per ticket.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# A frozen snapshot of its revision: it repeats the schema, never imports the live one.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tickets_closed_fingerprint",
        "tickets",
        ["fingerprint"],
        sqlite_where=sa.text("state = 'closed'"),
        postgresql_where=sa.text("state = 'closed'"),
    )
    op.drop_index("ix_tickets_fingerprint", table_name="tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_fingerprint", "tickets", ["fingerprint"])
    op.drop_index("ix_tickets_closed_fingerprint", table_name="tickets")
