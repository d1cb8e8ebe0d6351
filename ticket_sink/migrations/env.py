"""Alembic environment for the ticket store.

Migrations run only through `ticket_sink.Store.open()`, which hands Alembic a connection
that is already inside the transaction it will commit (and, on PostgreSQL, already holds
the migration lock). This file must never open a connection or a transaction of its own:
doing so would escape that lock and the all-or-nothing upgrade.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise RuntimeError(
        "vigie's store migrations run when the store opens (ticket_sink.Store.open); "
        "the alembic command line is not supported"
    )

context.configure(connection=connection, target_metadata=None)
# The caller's transaction is already open, so this begins nothing; Alembic only needs
# the block to know where the migrations run.
with context.begin_transaction():
    context.run_migrations()
