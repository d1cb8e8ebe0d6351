"""The store fixtures (SQLite files and a throwaway PostgreSQL) of the store's tests."""

from tests.ticket_sink.conftest import postgres_cluster, url

__all__ = ["postgres_cluster", "url"]
