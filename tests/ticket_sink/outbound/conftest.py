"""The outbound tests' clock: the store's, moved by the test from `outbox_data.T0`."""

from __future__ import annotations

import pytest

from tests.support import SteppedClock

from .outbox_data import T0


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock(T0)
