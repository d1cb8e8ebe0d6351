"""Record which agent claimed a delivery (`deliveries.claimed_by`), so that the claims of
an agent known dead (stopped, or silent for longer than its heartbeats allow) are taken
over at once instead of after the whole lease.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# A frozen snapshot of its revision: it repeats the schema, never imports the live one.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("claimed_by", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("claimed_by")
