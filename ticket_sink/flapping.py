"""Flap detection: an alert that fires and clears too often within a window is flapping.

The correlator marks a ticket flapping when its alert flips; the sweep leaves a flapping
ticket unresolved until it is stable. Both apply this one rule. Pure: `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

__all__ = ["is_flapping", "recent_changes"]


def recent_changes(changes: Iterable[datetime], now: datetime, window: timedelta) -> list[datetime]:
    """The state changes inside `(now - window, now]`, oldest first: what to keep."""
    return sorted(at for at in changes if now - window < at <= now)


def is_flapping(
    changes: Iterable[datetime], now: datetime, *, window: timedelta, max_changes: int
) -> bool:
    """More than `max_changes` state changes inside `(now - window, now]`."""
    return len(recent_changes(changes, now, window)) > max_changes
