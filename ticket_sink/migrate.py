"""The store's schema migrations: Alembic's configuration, built in code, and the upgrade
to the newest revision that `Store.open` runs inside its own transaction.

It must never open a connection or a transaction of its own (the caller's transaction is
what makes an upgrade all-or-nothing, and on PostgreSQL holds the migration lock), and it
must never downgrade: a schema newer than this version knows is refused.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from vocab.errors import ConfigurationError

__all__ = ["MIGRATIONS_DIR", "SchemaError", "alembic_config", "alembic_turn", "migrate"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Held (transaction-scoped) while migrating, so agents starting together against one
# PostgreSQL database migrate one after the other. Any constant works if all agents agree.
POSTGRES_MIGRATION_LOCK = 0x7669_6769_6501  # the bytes of "vigie", then 1


class SchemaError(ConfigurationError):
    """The database's schema is one this version cannot migrate (the store URL names a
    database that a newer vigie upgraded)."""


def alembic_config() -> Config:
    """Alembic configuration for the store's migrations, built in code so it works from
    an installed wheel (no alembic.ini, no working-directory assumptions)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


# Alembic's `context` and `op` are process-wide proxies: two migrations interleaving on one
# event loop (two stores opening at once, even on different databases) would run each
# other's operations on the wrong connection. So migrations take turns, one per loop.
_alembic_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def alembic_turn() -> asyncio.Lock:
    """The lock a migration holds on this event loop while it runs."""
    loop = asyncio.get_running_loop()
    turn = _alembic_turns.get(loop)
    if turn is None:
        turn = _alembic_turns[loop] = asyncio.Lock()
    return turn


def migrate(connection: Connection) -> None:
    """Upgrade the schema to head inside the caller's transaction (sync, for run_sync)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_MIGRATION_LOCK}
        )
    config = alembic_config()
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    current = MigrationContext.configure(connection).get_current_heads()
    unknown = sorted(set(current) - known)
    if unknown:
        # Alembic would say "can't locate revision"; the likely cause is worth spelling out.
        raise SchemaError(
            f"the database schema is at revision {', '.join(unknown)}, which this version of "
            "vigie does not know (was it upgraded by a newer vigie?)"
        )
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
