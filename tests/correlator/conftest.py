"""The store fixtures (SQLite files and a throwaway PostgreSQL) of the store's tests, and
a store on a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support import SteppedClock
from tests.ticket_sink.conftest import postgres_cluster, store, url

__all__ = ["T0", "clock", "postgres_cluster", "store", "url"]

T0 = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)  # a Friday, 18:00 in Brussels


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock(T0)
