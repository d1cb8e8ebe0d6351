"""The store fixtures (SQLite files and a throwaway PostgreSQL) of the store's tests, and
a store on a simulated clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.ticket_sink.conftest import postgres_cluster, url
from ticket_sink import Store

__all__ = ["T0", "Clock", "clock", "postgres_cluster", "store", "url"]

T0 = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)  # a Friday, 18:00 in Brussels


class Clock:
    """The store's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def at(self, **since_t0: float) -> datetime:
        self.now = T0 + timedelta(**since_t0)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(url: str, clock: Clock) -> AsyncIterator[Store]:
    async with Store(url, clock=clock) as opened:
        yield opened
