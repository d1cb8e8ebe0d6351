"""Create `agents`: one row per agent process that ever opened the store.

Operators of several agents sharing one PostgreSQL database read it to see which agents
are alive (recent `last_seen_at`, no `stopped_at`) and which shard each one runs. Rows are
never deleted; an agent that stops sets `stopped_at`.

Revision ID: 0001
Revises: (none, the first revision)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# A frozen snapshot of its revision: it repeats the schema, never imports the live one.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("shard", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        # Named, so a later migration can alter it on SQLite (batch mode) and PostgreSQL alike.
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
    )


def downgrade() -> None:
    op.drop_table("agents")
