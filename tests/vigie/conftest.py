"""The throwaway PostgreSQL of the store's tests, for the agent's tests against it."""

from __future__ import annotations

from tests.ticket_sink.conftest import postgres_cluster

__all__ = ["postgres_cluster"]
